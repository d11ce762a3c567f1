package translate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Error is a problem with the compose files. It names where the problem is
// (file, service, field) so a user can fix a file they did not write for
// compod without guessing.
type Error struct {
	// File is the compose (or env) file, relative to the project directory
	// when it is inside it.
	File string
	// Service is the service name, empty for top-level problems.
	Service string
	// Field is the compose field path inside the service (or at the top
	// level when Service is empty), e.g. "ports[0]" or "deploy.replicas".
	Field string
	Msg   string
	// Err is the underlying error (compose-go's, the file system's), if any.
	Err error
}

func (e *Error) Error() string {
	return location(e.File, e.Service, e.Field) + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// location renders the "file: service "s": field "f": " prefix shared by
// errors and warnings.
func location(file, service, field string) string {
	var b strings.Builder
	if file != "" {
		b.WriteString(file)
		b.WriteString(": ")
	}
	if service != "" {
		fmt.Fprintf(&b, "service %q: ", service)
	}
	if field != "" {
		fmt.Fprintf(&b, "field %q: ", field)
	}
	return b.String()
}

// fileIndex knows which compose file mentions which service and which
// fields of it. compose-go merges the files before we see the project, so
// this cheap second read of each file is how an error finds its file.
type fileIndex struct {
	workingDir string
	// given are the compose files Load was given (absolute, in order);
	// files are those and the files they include (each included file
	// before the file that includes it, as compose-go merges them): what
	// services, topLevel and messages are about.
	given, files []string
	// logged is what compose-go logged while loading (composelog.go).
	logged []string
	// services[i][name][key] is the value of key of service name in
	// files[i], as a raw YAML node.
	services []map[string]map[string]*yaml.Node
	// topLevel[i] is the set of top-level keys of files[i].
	topLevel []map[string]bool
}

func newFileIndex(workingDir string, files []string) *fileIndex {
	idx := &fileIndex{workingDir: workingDir, given: files}
	seen := map[string]bool{}
	var add func(f string)
	add = func(f string) {
		if seen[f] {
			return
		}
		seen[f] = true
		svcs, top, includes := scanFile(f)
		for _, inc := range includes {
			add(inc)
		}
		idx.files = append(idx.files, f)
		idx.services = append(idx.services, svcs)
		idx.topLevel = append(idx.topLevel, top)
	}
	for _, f := range files {
		add(f)
	}
	idx.indexExtends()
	return idx
}

// indexExtends: a service that extends a service of another file inherits
// its fields. Those no file of the project sets for the service itself are
// indexed as the extending service's in the base file (entries after the
// project's files: the project's own keys are never shadowed, and the
// first file that mentions the service stays a project file), so an error
// in an inherited field names the file it comes from.
func (x *fileIndex) indexExtends() {
	n := len(x.files)
	for i := 0; i < n; i++ {
		names := make([]string, 0, len(x.services[i]))
		for name := range x.services[i] {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			ext, ok := x.services[i][name]["extends"]
			if !ok {
				continue
			}
			from := x.files[i]
			file, base := extendsTarget(from, ext)
			for depth := 0; depth < 8 && base != ""; depth++ {
				svcs, _, _ := scanFile(file)
				keys := svcs[base]
				if keys == nil {
					break
				}
				inherited := map[string]*yaml.Node{}
				for k, v := range keys {
					if k != "extends" && !x.setByProject(n, name, k) {
						inherited[k] = v
					}
				}
				if file != from && len(inherited) > 0 {
					x.files = append(x.files, file)
					x.services = append(x.services, map[string]map[string]*yaml.Node{name: inherited})
					x.topLevel = append(x.topLevel, map[string]bool{})
				}
				next, ok := keys["extends"]
				if !ok {
					break
				}
				from = file
				file, base = extendsTarget(file, next)
			}
		}
	}
}

// setByProject reports whether one of the first n (the project's) files
// sets key for the service.
func (x *fileIndex) setByProject(n int, service, key string) bool {
	for i := 0; i < n; i++ {
		if _, ok := x.services[i][service][key]; ok {
			return true
		}
	}
	return false
}

// extendsTarget reads an extends: node (a service name, or a mapping
// with file and service) of a service in file from.
func extendsTarget(from string, n *yaml.Node) (file, service string) {
	file = from
	switch n.Kind {
	case yaml.ScalarNode:
		return file, n.Value
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			switch v := n.Content[i+1]; n.Content[i].Value {
			case "file":
				file = v.Value
				if !filepath.IsAbs(file) {
					file = filepath.Join(filepath.Dir(from), file)
				}
			case "service":
				service = v.Value
			}
		}
	}
	return file, service
}

// includedFiles lists the files an include: node names (a path, or a
// mapping whose path is one or a list), absolute: relative ones are
// relative to the including file's directory.
func includedFiles(from string, n *yaml.Node) []string {
	var out []string
	addPath := func(p *yaml.Node) {
		if p.Kind != yaml.ScalarNode || p.Value == "" {
			return
		}
		path := p.Value
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(from), path)
		}
		out = append(out, path)
	}
	if n.Kind != yaml.SequenceNode {
		return nil
	}
	for _, item := range n.Content {
		switch item.Kind {
		case yaml.ScalarNode:
			addPath(item)
		case yaml.MappingNode:
			for i := 0; i+1 < len(item.Content); i += 2 {
				if item.Content[i].Value != "path" {
					continue
				}
				if v := item.Content[i+1]; v.Kind == yaml.SequenceNode {
					for _, p := range v.Content {
						addPath(p)
					}
				} else {
					addPath(v)
				}
			}
		}
	}
	return out
}

// scanFile reads the services (and their raw fields) of one compose file.
// Errors are ignored: compose-go reports unreadable or invalid files
// itself, better.
func scanFile(path string) (svcs map[string]map[string]*yaml.Node, top map[string]bool, includes []string) {
	svcs, top = map[string]map[string]*yaml.Node{}, map[string]bool{}
	data, err := os.ReadFile(path)
	if err != nil {
		return svcs, top, nil
	}
	var doc map[string]yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		return svcs, top, nil
	}
	for k, v := range doc {
		top[k] = true
		if k == "include" {
			includes = includedFiles(path, &v)
		}
		if k != "services" || v.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(v.Content); i += 2 {
			keys := map[string]*yaml.Node{}
			if s := v.Content[i+1]; s.Kind == yaml.MappingNode {
				for j := 0; j+1 < len(s.Content); j += 2 {
					keys[s.Content[j].Value] = s.Content[j+1]
				}
			}
			svcs[v.Content[i].Value] = keys
		}
	}
	return svcs, top, includes
}

// fileFor picks the file to blame: the last file that sets the field of
// the service (it won the merge), else the first file that mentions the
// service, else the first file.
func (x *fileIndex) fileFor(service, field string) string {
	key := fieldKey(field)
	if service == "" {
		for i := len(x.files) - 1; i >= 0; i-- {
			if key != "" && x.topLevel[i][key] {
				return x.display(x.files[i])
			}
		}
		return x.display(x.files[0])
	}
	if key != "" {
		for i := len(x.files) - 1; i >= 0; i-- {
			if _, ok := x.services[i][service][key]; ok {
				return x.display(x.files[i])
			}
		}
	}
	for i, f := range x.files {
		if _, ok := x.services[i][service]; ok {
			return x.display(f)
		}
	}
	return x.display(x.files[0])
}

// fieldKey is the top-level compose key of a field path: "ports[0]" →
// "ports", "deploy.replicas" → "deploy".
func fieldKey(field string) string {
	if i := strings.IndexAny(field, ".["); i >= 0 {
		return field[:i]
	}
	return field
}

// display shortens a path to be relative to the project directory: users
// think of "compose.yaml", not of the Mesos sandbox's long absolute path.
func (x *fileIndex) display(path string) string {
	return displayPath(x.workingDir, path)
}

func displayPath(dir, path string) string {
	if dir == "" {
		return path
	}
	if rel, err := filepath.Rel(dir, path); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return rel
	}
	return path
}

// wrapComposeError turns a compose-go error into an *Error that names the
// file, and the service and field when the message or the files tell.
// compose-go names the file in parse and schema errors with its absolute
// path, and fields as paths (services.web.ports.0, 'services[web].cpus');
// we rewrite both the way our own errors read.
func (x *fileIndex) wrapComposeError(err error) error {
	var ce *Error
	if errors.As(err, &ce) {
		return err
	}
	msg := strings.TrimSpace(err.Error())
	file := ""
	for _, f := range x.files {
		for _, prefix := range []string{"failed to parse " + f + ": ", "validating " + f + ": "} {
			if i := strings.Index(msg, prefix); i >= 0 {
				msg = msg[:i] + msg[i+len(prefix):]
				file = x.display(f)
			}
		}
		if file == "" && strings.Contains(msg, f) {
			file = x.display(f)
		}
		msg = strings.ReplaceAll(msg, f, x.display(f))
	}
	if rest, ok := strings.CutPrefix(msg, "decoding failed due to the following error(s):"); ok {
		msg = strings.TrimSpace(rest)
	}
	if unknown := unknownKeys(file, msg, err); unknown != nil {
		return unknown
	}
	bad, isInterpolation := badInterpolation(msg)
	service, field, msg := x.fieldInMessage(msg)
	if isInterpolation {
		msg = fmt.Sprintf("invalid interpolation in %q: write a literal $ as $$", bad)
	}
	if strings.Contains(field, "[]") {
		// A list item without its index: find the item by its value.
		if fld, ok := x.locateItem(service, field, msg, bad); ok {
			field = fld
		} else {
			// Name the list the item is in, never an index no one can find.
			field = strings.TrimSuffix(field[:strings.Index(field, "[]")], ".")
		}
	}
	if service == "" {
		if i, svc, fld, val, ok := x.locateValue(msg); ok {
			service, field = svc, fld
			msg = fmt.Sprintf("invalid value %q: %s", val, msg)
			if file == "" {
				file = x.display(x.files[i])
			}
		}
	}
	if file == "" && service != "" {
		file = x.fileFor(service, field)
	}
	if file == "" {
		file = x.allFiles()
	}
	return &Error{File: file, Service: service, Field: field, Msg: msg, Err: err}
}

// additionalPropsRe matches the schema's message for keys it does not know:
// "[path ]additional properties 'a', 'b' not allowed".
var additionalPropsRe = regexp.MustCompile(`^(\S*)\s*additional propert(?:y|ies) ((?:'[^']*'(?:, )?)+) not allowed$`)

// topLevelKeys are the keys a compose file may have at its top level.
const topLevelKeys = "services, networks, volumes, secrets, configs, include, name, version, x-*"

// unknownKeys turns the schema's complaint about unknown keys outside the
// services (whose fields fieldInMessage handles) into one error per key,
// each naming it: a misspelt top-level key ("servics") is then found at once.
func unknownKeys(file, msg string, err error) error {
	m := additionalPropsRe.FindStringSubmatch(msg)
	if m == nil || strings.HasPrefix(m[1], "services.") || strings.HasPrefix(m[1], "'services[") {
		return nil
	}
	var errs []error
	for _, k := range strings.Split(m[2], ", ") {
		k = strings.Trim(k, "'")
		if m[1] == "" {
			errs = append(errs, &Error{File: file, Field: k, Msg: "unknown top-level key: it is not in the compose specification (top-level keys: " + topLevelKeys + ")", Err: err})
			continue
		}
		errs = append(errs, &Error{File: file, Field: indexPath(m[1]) + "." + k, Msg: "unknown key: it is not in the compose specification", Err: err})
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// badInterpolation returns the value compose-go could not interpolate,
// from its message "invalid interpolation format for <path>.\nYou may need
// to escape any $ with another $.\n<value>".
func badInterpolation(msg string) (string, bool) {
	if !strings.Contains(msg, "invalid interpolation format for ") {
		return "", false
	}
	i := strings.LastIndex(msg, "\n")
	if i < 0 {
		return "", false
	}
	return msg[i+1:], true
}

// locateItem finds the index of the list item a message names only as
// "[]" (field "ports[]"): by the exact value compose-go quoted when it
// quoted one, else by the message's last word; only an item of the same
// field of the same service counts.
func (x *fileIndex) locateItem(service, field, msg, value string) (string, bool) {
	if value != "" {
		for i := len(x.files) - 1; i >= 0; i-- {
			node := x.services[i][service][fieldKey(field)]
			if node == nil {
				continue
			}
			if fld, v, ok := findScalar(node, fieldKey(field), value); ok && v == value {
				return fld, true
			}
		}
		return "", false
	}
	if _, svc, fld, _, ok := x.locateValue(msg); ok && svc == service && fieldKey(fld) == fieldKey(field) {
		return fld, true
	}
	return "", false
}

// pathSegRe matches a field path after "services.<name>." in compose-go's
// messages.
var pathSegRe = regexp.MustCompile(`^[A-Za-z0-9_.\-\[\]]*[A-Za-z0-9_\]]`)

// fieldInMessage finds the service and field a compose-go message is
// about and removes the path from the message. Service names may contain
// dots, so the known names are matched rather than parsed.
func (x *fileIndex) fieldInMessage(msg string) (service, field, rest string) {
	best, at, end := "", -1, -1
	for _, name := range x.serviceNames() {
		for _, pat := range []string{"'services[" + name + "].", "services." + name + ".", "services." + name + " ", `service "` + name + `"`} {
			if i := strings.Index(msg, pat); i >= 0 && len(name) > len(best) {
				best, at, end = name, i, i+len(pat)
			}
		}
	}
	if best == "" {
		return "", "", msg
	}
	if strings.HasSuffix(msg[:end], ".") {
		field = pathSegRe.FindString(msg[end:])
		after := strings.TrimPrefix(msg[end+len(field):], "'")
		before := strings.TrimSuffix(strings.TrimSpace(strings.TrimSuffix(msg[:at], "error while interpolating ")), ":")
		after = strings.TrimLeft(after, " :")
		if after == "false schema" {
			after = "unknown field: it is not in the compose specification"
		}
		rest = strings.TrimSpace(strings.Join(nonEmpty(before, after), ": "))
		return best, indexPath(field), rest
	}
	return best, "", msg
}

// indexPath writes schema paths the way users index lists: "ports.0" →
// "ports[0]"; compose-go also writes "ports.[0]".
func indexPath(p string) string {
	parts := strings.Split(strings.ReplaceAll(p, ".[", "["), ".")
	var b strings.Builder
	for i, s := range parts {
		if _, err := strconv.Atoi(s); err == nil && i > 0 {
			fmt.Fprintf(&b, "[%s]", s)
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (x *fileIndex) serviceNames() []string {
	seen := map[string]bool{}
	var out []string
	for _, svcs := range x.services {
		for n := range svcs {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

// locateValue finds the raw compose value that a message without a path
// complains about ("Invalid hostPort: 99999"): the last word of the
// message, searched in every service's fields, last file first.
func (x *fileIndex) locateValue(msg string) (file int, service, field, value string, ok bool) {
	token := msg
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		token = msg[i+2:]
	}
	token = strings.Trim(strings.TrimSpace(token), `"'`)
	if len(token) < 2 || strings.ContainsAny(token, "\n") {
		return 0, "", "", "", false
	}
	return x.findInServices(func(node *yaml.Node, key string) (string, string, bool) {
		return findScalar(node, key, token)
	})
}

// findInServices runs find on every field of every service, last file
// first (an override wins), services and fields in name order, and returns
// the first field it finds.
func (x *fileIndex) findInServices(find func(node *yaml.Node, key string) (field, value string, ok bool)) (file int, service, field, value string, ok bool) {
	for i := len(x.files) - 1; i >= 0; i-- {
		names := make([]string, 0, len(x.services[i]))
		for n := range x.services[i] {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			keys := make([]string, 0, len(x.services[i][n]))
			for k := range x.services[i][n] {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if f, v, found := find(x.services[i][n][k], k); found {
					return i, n, f, v, true
				}
			}
		}
	}
	return 0, "", "", "", false
}

// findScalar searches a raw YAML value for a scalar containing token and
// returns its field path.
func findScalar(node *yaml.Node, path, token string) (string, string, bool) {
	return findScalarFunc(node, path, func(v string) bool { return strings.Contains(v, token) })
}

// findScalarFunc returns the field path and value of the first scalar of
// a raw YAML value that match accepts.
func findScalarFunc(node *yaml.Node, path string, match func(string) bool) (string, string, bool) {
	switch node.Kind {
	case yaml.ScalarNode:
		if match(node.Value) {
			return path, node.Value, true
		}
	case yaml.SequenceNode:
		for i, c := range node.Content {
			if f, v, ok := findScalarFunc(c, fmt.Sprintf("%s[%d]", path, i), match); ok {
				return f, v, true
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(node.Content); i += 2 {
			if f, v, ok := findScalarFunc(node.Content[i+1], path+"."+node.Content[i].Value, match); ok {
				return f, v, true
			}
		}
	}
	return "", "", false
}

// Problems flattens what Load returns (a *Refusal, errors.Join trees) into
// its single problems, in order: each an *Error naming file, service and
// field, or (rarely) a plain error.
func Problems(err error) []error {
	var out []error
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if err != nil {
			out = append(out, err)
		}
	}
	walk(err)
	return out
}
