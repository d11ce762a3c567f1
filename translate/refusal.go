package translate

import (
	"errors"
	"strings"
)

// Refusal is a compose project compod will not run: every error found (no
// cap hides some), in the order found, each once, and the warnings of the
// same load, so that a user fixes the files in one go. Load returns a
// lone *Error instead when that is all there is to say.
type Refusal struct {
	Errs     []error
	Warnings []string
}

// Error lists the errors, one a line, then the warnings.
func (r *Refusal) Error() string {
	lines := make([]string, 0, len(r.Errs)+len(r.Warnings))
	for _, e := range r.Errs {
		lines = append(lines, e.Error())
	}
	for _, w := range r.Warnings {
		lines = append(lines, "warning: "+w)
	}
	return strings.Join(lines, "\n")
}

// Unwrap gives the errors (Problems, errors.As).
func (r *Refusal) Unwrap() []error { return r.Errs }

// LoadWarnings returns the warnings of a load that failed with err: what
// a successful load would have put in the plan's Warnings.
func LoadWarnings(err error) []string {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Warnings
	}
	return nil
}

// refusal is the error of a translation that found problems. An error on
// a field that an unset variable emptied says so: "image is required"
// alone sends the user looking in the wrong place.
func (t *translator) refusal() error {
	unset := t.idx.unsetVariables(t.idx.logged)
	var errs []error
	seen := map[string]bool{}
	for _, err := range t.errs {
		var e *Error
		if errors.As(err, &e) {
			for _, u := range unset {
				if u.service == e.Service && u.field != "" && fieldKey(u.field) == fieldKey(e.Field) {
					e.Msg += " (variable " + u.name + " is not set: it was replaced by an empty string)"
				}
			}
		}
		if seen[err.Error()] {
			continue
		}
		seen[err.Error()] = true
		errs = append(errs, err)
	}
	warnings := t.allWarnings()
	if len(errs) == 1 && len(warnings) == 0 {
		return errs[0]
	}
	return &Refusal{Errs: errs, Warnings: warnings}
}

// allWarnings are compose-go's warnings (located) and translate's own,
// each once.
func (t *translator) allWarnings() []string {
	return dedupe(append(t.idx.composeWarnings(t.idx.logged), t.warnings...))
}

// dedupe keeps the first of equal strings, in order.
func dedupe(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
