package translate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeProject writes files into a fresh project directory named "pod" and
// returns it.
func writeProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pod")
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// allErrors is the *Error problems of err.
func allErrors(err error) []*Error {
	var out []*Error
	for _, p := range Problems(err) {
		var e *Error
		if errors.As(p, &e) {
			out = append(out, e)
		}
	}
	return out
}

func TestRejections(t *testing.T) {
	const svc = "services:\n  web:\n    image: web:1\n"
	tests := []struct {
		name  string
		files map[string]string
		opts  func(dir string, o *LoadOptions)
		// the error must name this file, service and field and contain msg
		file, service, field, msg string
	}{
		{name: "build only", files: map[string]string{"compose.yaml": "services:\n  web:\n    build: .\n"},
			file: "compose.yaml", service: "web", field: "build", msg: "build is not supported: build the image and set image:"},
		{name: "no image", files: map[string]string{"compose.yaml": "services:\n  web:\n    command: [x]\n"},
			file: "compose.yaml", service: "web", field: "image", msg: "image is required"},
		{name: "network_mode host", files: map[string]string{"compose.yaml": svc + "    network_mode: bridge\n"},
			file: "compose.yaml", service: "web", field: "network_mode", msg: `network_mode "bridge" is not supported`},
		{name: "network_mode bridge", files: map[string]string{"compose.yaml": svc + "    network_mode: bridge\n"},
			file: "compose.yaml", service: "web", field: "network_mode", msg: "not supported"},
		{name: "secret file missing", files: map[string]string{"compose.yaml": svc + "    secrets: [token]\nsecrets:\n  token:\n    file: ./token\n"},
			file: "compose.yaml", field: "secrets.token.file", msg: `secret "token": file token does not exist`},
		{name: "config file missing", files: map[string]string{"compose.yaml": svc + "    configs: [conf]\nconfigs:\n  conf:\n    file: ./conf/app.ini\n"},
			file: "compose.yaml", field: "configs.conf.file", msg: `config "conf": file conf/app.ini does not exist`},
		{name: "secret variable unset", files: map[string]string{"compose.yaml": svc + "    secrets: [token]\nsecrets:\n  token:\n    environment: TOKEN\n"},
			file: "compose.yaml", field: "secrets.token.environment", msg: `secret "token": environment variable TOKEN is not set`},
		{name: "undeclared secret", files: map[string]string{"compose.yaml": svc + "    secrets: [token]\n"},
			file: "compose.yaml", service: "web", field: "secrets[0]", msg: `secret "token" is not declared in the top-level secrets`},
		{name: "undeclared config (long syntax)", files: map[string]string{"compose.yaml": svc + "    configs:\n      - source: conf\n        target: /etc/app.ini\n"},
			file: "compose.yaml", service: "web", field: "configs[0]", msg: `config "conf" is not declared in the top-level configs`},
		{name: "external secret", files: map[string]string{"compose.yaml": svc + "    secrets: [token]\nsecrets:\n  token:\n    external: true\n"},
			file: "compose.yaml", field: "secrets.token.external", msg: "external secrets are not supported: there is no swarm or secret store"},
		{name: "external config", files: map[string]string{"compose.yaml": svc + "configs:\n  conf:\n    external: true\n"},
			file: "compose.yaml", field: "configs.conf.external", msg: "external configs are not supported"},
		{name: "secret uid not numeric", files: map[string]string{"compose.yaml": svc + "    secrets:\n      - source: token\n        uid: app\nsecrets:\n  token:\n    file: token\n", "token": "x"},
			file: "compose.yaml", service: "web", field: "secrets[0].uid", msg: `"app" is not a numeric id`},
		{name: "secret target taken by a volume", files: map[string]string{"compose.yaml": svc + "    volumes: [/run/secrets/token]\n    secrets: [token]\nsecrets:\n  token:\n    file: token\n", "token": "x"},
			file: "compose.yaml", service: "web", field: "secrets[0]", msg: "target /run/secrets/token is already mounted by volumes"},
		{name: "unknown signal", files: map[string]string{"compose.yaml": svc + "    stop_signal: SIGFOO\n"},
			file: "compose.yaml", service: "web", field: "stop_signal", msg: `unknown signal "SIGFOO"`},
		{name: "signal number out of range", files: map[string]string{"compose.yaml": svc + "    stop_signal: \"99\"\n"},
			file: "compose.yaml", service: "web", field: "stop_signal", msg: `unknown signal "99"`},
		{name: "bad host port", files: map[string]string{"compose.yaml": svc + "    ports: [\"8080:80\", \"99999:80\"]\n"},
			file: "compose.yaml", service: "web", field: "ports[1]", msg: `invalid value "99999:80"`},
		{name: "bad container port", files: map[string]string{"compose.yaml": svc + "    ports: [\"80:http\"]\n"},
			file: "compose.yaml", service: "web", field: "ports[0]", msg: `"80:http"`},
		{name: "bad published port, long syntax", files: map[string]string{"compose.yaml": svc + "    ports:\n      - target: 80\n        published: \"99999\"\n"},
			file: "compose.yaml", service: "web", field: "ports[0]", msg: `invalid host port "99999"`},
		{name: "host port range", files: map[string]string{"compose.yaml": svc + "    ports: [\"8000-8010:80\"]\n"},
			file: "compose.yaml", service: "web", field: "ports[0]", msg: "host port range"},
		{name: "sctp", files: map[string]string{"compose.yaml": svc + "    ports: [\"80:80/sctp\"]\n"},
			file: "compose.yaml", service: "web", field: "ports[0]", msg: `protocol "sctp" is not supported`},
		{name: "bad host ip", files: map[string]string{"compose.yaml": svc + "    ports:\n      - target: 80\n        published: \"80\"\n        host_ip: localhost\n"},
			file: "compose.yaml", service: "web", field: "ports[0].host_ip", msg: "invalid ip address: localhost"},
		{name: "duplicate host port", files: map[string]string{"compose.yaml": svc + "    ports: [\"8080:80\"]\n  api:\n    image: api:1\n    ports: [\"8080:8080\"]\n"},
			file: "compose.yaml", service: "web", field: "ports[0]", msg: `host port 8080/tcp is already published by service "api" (ports[0])`},
		{name: "wildcard overlaps address", files: map[string]string{"compose.yaml": svc + "    ports: [\"127.0.0.1:8080:80\"]\n  api:\n    image: api:1\n    ports: [\"8080:8080\"]\n"},
			file: "compose.yaml", service: "web", field: "ports[0]", msg: `already published by service "api"`},
		{name: "cycle", files: map[string]string{"compose.yaml": "services:\n  a:\n    image: a\n    depends_on: [b]\n  b:\n    image: b\n    depends_on: [c]\n  c:\n    image: c\n    depends_on: [a]\n  d:\n    image: d\n"},
			file: "compose.yaml", service: "a", field: "depends_on", msg: "dependency cycle: a → b → c → a"},
		{name: "self dependency", files: map[string]string{"compose.yaml": svc + "    depends_on: [web]\n"},
			file: "compose.yaml", service: "web", field: "depends_on", msg: "dependency cycle: web → web"},
		{name: "unknown dependency", files: map[string]string{"compose.yaml": svc + "    depends_on: [db]\n"},
			file: "compose.yaml", service: "web", field: "depends_on.db", msg: `depends on undefined service "db"`},
		{name: "dependency disabled by profile", files: map[string]string{"compose.yaml": svc + "    depends_on: [db]\n  db:\n    image: db\n    profiles: [db]\n"},
			file: "compose.yaml", service: "web", field: "depends_on.db", msg: "not enabled: enable one of its profiles [db]"},
		{name: "conflicting dns", files: map[string]string{"compose.yaml": "services:\n  a:\n    image: a\n    dns: 1.1.1.1\n  b:\n    image: b\n    dns: [8.8.8.8]\n"},
			file: "compose.yaml", service: "b", field: "dns", msg: `[8.8.8.8] conflicts with dns [1.1.1.1] of service "a"`},
		{name: "conflicting dns_search", files: map[string]string{"compose.yaml": "services:\n  a:\n    image: a\n    dns_search: a.example\n  b:\n    image: b\n    dns_search: b.example\n"},
			file: "compose.yaml", service: "b", field: "dns_search", msg: `of service "a"`},
		{name: "bad dns server", files: map[string]string{"compose.yaml": svc + "    dns: resolver.example\n"},
			file: "compose.yaml", service: "web", field: "dns[0]", msg: "invalid DNS server address"},
		{name: "volume name with a slash", files: map[string]string{"compose.yaml": svc + "    volumes: [data:/data]\nvolumes:\n  data:\n    name: ../etc\n"},
			file: "compose.yaml", field: "volumes.data.name", msg: `invalid volume name "../etc"`},
		{name: "volume driver", files: map[string]string{"compose.yaml": svc + "    volumes: [data:/data]\nvolumes:\n  data:\n    driver: nfs\n"},
			file: "compose.yaml", field: "volumes.data.driver", msg: `volume driver "nfs" is not supported`},
		{name: "volume driver_opts", files: map[string]string{"compose.yaml": svc + "    volumes: [data:/data]\nvolumes:\n  data:\n    driver_opts:\n      type: none\n      device: /srv\n      o: bind\n"},
			file: "compose.yaml", field: "volumes.data.driver_opts", msg: "use a bind mount"},
		{name: "undeclared volume", files: map[string]string{"compose.yaml": svc + "    volumes: [data:/data]\n"},
			file: "compose.yaml", service: "web", field: "volumes[0]", msg: `volume "data" is not declared`},
		{name: "duplicate mount target", files: map[string]string{"compose.yaml": svc + "    volumes: [/data]\n    tmpfs: [/data]\n"},
			file: "compose.yaml", service: "web", field: "tmpfs[0]", msg: "already mounted by volumes[0]"},
		{name: "volume subpath", files: map[string]string{"compose.yaml": svc + "    volumes:\n      - type: volume\n        source: data\n        target: /data\n        volume:\n          subpath: sub\nvolumes:\n  data: {}\n"},
			file: "compose.yaml", service: "web", field: "volumes[0]", msg: "subpath is not supported"},
		{name: "npipe volume", files: map[string]string{"compose.yaml": svc + "    volumes:\n      - type: npipe\n        source: x\n        target: /x\n"},
			file: "compose.yaml", service: "web", field: "volumes[0]", msg: `volume type "npipe" is not supported`},
		{name: "undeclared network", files: map[string]string{"compose.yaml": svc + "    networks: [front]\n"},
			file: "compose.yaml", service: "web", field: "networks.front", msg: `network "front" is not declared`},
		{name: "bad restart", files: map[string]string{"compose.yaml": svc + "    restart: sometimes\n"},
			file: "compose.yaml", service: "web", field: "restart", msg: `invalid restart policy "sometimes"`},
		{name: "bad restart count", files: map[string]string{"compose.yaml": svc + "    restart: on-failure:x\n"},
			file: "compose.yaml", service: "web", field: "restart", msg: "invalid restart policy"},
		{name: "pull_policy build", files: map[string]string{"compose.yaml": svc + "    pull_policy: build\n"},
			file: "compose.yaml", service: "web", field: "pull_policy", msg: "build is not supported"},
		{name: "healthcheck test", files: map[string]string{"compose.yaml": svc + "    healthcheck:\n      test: [\"RUN\", \"x\"]\n"},
			file: "compose.yaml", service: "web", field: "healthcheck.test", msg: "must start with CMD, CMD-SHELL or NONE"},
		{name: "error in an extended file", files: map[string]string{
			"compose.yaml":     "services:\n  web:\n    extends: {file: base/common.yaml, service: common}\n    command: [\"sleep\", \"1\"]\n",
			"base/common.yaml": "services:\n  common:\n    image: busybox\n    stop_signal: SIGNOPE\n"},
			file: "base/common.yaml", service: "web", field: "stop_signal", msg: `unknown signal "SIGNOPE"`},
		{name: "compose-go error in an extended file", files: map[string]string{
			"compose.yaml": "services:\n  web:\n    extends: {file: base.yaml, service: common}\n",
			"base.yaml":    "services:\n  common:\n    image: busybox\n    ports: [\"99999:80\"]\n"},
			file: "base.yaml", service: "web", field: "ports[0]", msg: "Invalid hostPort: 99999"},
		{name: "not a CDI name", files: map[string]string{"compose.yaml": svc + "    devices: [\"/dev/fuse\", \"gpu=all\"]\n"},
			file: "compose.yaml", service: "web", field: "devices[1]", msg: `"gpu=all" is not a CDI device name`},
		{name: "GPU of another vendor", files: map[string]string{"compose.yaml": svc + "    gpus: [{driver: amd, count: 1}]\n"},
			file: "compose.yaml", service: "web", field: "gpus[0]", msg: `driver "amd"`},
		{name: "device request not a GPU", files: map[string]string{"compose.yaml": svc + "    deploy:\n      resources:\n        reservations:\n          devices: [{capabilities: [tpu]}]\n"},
			file: "compose.yaml", service: "web", field: "deploy.resources.reservations.devices[0]", msg: "only GPU requests"},
		{name: "security_opt", files: map[string]string{"compose.yaml": svc + "    security_opt: [\"no-new-privileges:true\", \"apparmor\"]\n"},
			file: "compose.yaml", service: "web", field: "security_opt[1]", msg: "name an AppArmor profile"},
		{name: "seccomp profile missing", files: map[string]string{"compose.yaml": svc + "    security_opt: [\"seccomp=nope.json\"]\n"},
			file: "compose.yaml", service: "web", field: "security_opt[0]", msg: "reading the seccomp profile"},
		{name: "seccomp profile not docker's format", files: map[string]string{"compose.yaml": svc + "    security_opt: [\"seccomp=p.json\"]\n", "p.json": `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_MAYBE"}]}`},
			file: "compose.yaml", service: "web", field: "security_opt[0]", msg: `seccomp profile p.json: syscalls[0]: action "SCMP_ACT_MAYBE" is not supported`},
		{name: "seccomp profile unknown key", files: map[string]string{"compose.yaml": svc + "    security_opt: [\"seccomp=p.json\"]\n", "p.json": `{"defaultAction": "SCMP_ACT_ALLOW", "sycalls": []}`},
			file: "compose.yaml", service: "web", field: "security_opt[0]", msg: `unknown field "sycalls"`},
		{name: "volumes_from a container", files: map[string]string{"compose.yaml": svc + "    volumes_from: [db, \"container:legacy\"]\n  db:\n    image: db\n"},
			file: "compose.yaml", service: "web", field: "volumes_from[1]", msg: `"container:legacy" is not supported: a pod has no containers but its services`},
		{name: "volumes_from unknown mode", files: map[string]string{"compose.yaml": svc + "    volumes_from: [\"db:rx\"]\n  db:\n    image: db\n"},
			file: "compose.yaml", service: "web", field: "volumes_from[0]", msg: `unknown mode "rx": use ro or rw`},
		{name: "volumes_from cycle", files: map[string]string{"compose.yaml": svc + "    volumes_from: [db]\n  db:\n    image: db\n    volumes_from: [\"web:ro\"]\n"},
			file: "compose.yaml", service: "db", field: "volumes_from", msg: "volumes_from cycle: db → web → db"},
		{name: "pid of a container", files: map[string]string{"compose.yaml": svc + "    pid: container:legacy\n"},
			file: "compose.yaml", service: "web", field: "pid", msg: `"container:legacy" is not supported`},
		{name: "pid of an unknown service", files: map[string]string{"compose.yaml": svc + "    pid: service:db\n"},
			file: "compose.yaml", service: "web", field: "pid", msg: `service "db" is not in the pod`},
		{name: "pid cycle", files: map[string]string{"compose.yaml": svc + "    pid: service:db\n  db:\n    image: db\n    pid: service:web\n"},
			file: "compose.yaml", service: "db", field: "pid", msg: "PID namespace cycle: db → web → db"},
		{name: "unknown pid mode", files: map[string]string{"compose.yaml": svc + "    pid: shared\n"},
			file: "compose.yaml", service: "web", field: "pid", msg: `unknown PID mode "shared"`},
		{name: "x-compod unknown key", files: map[string]string{"compose.yaml": svc + "x-compod:\n  share_pids: true\n"},
			file: "compose.yaml", field: "x-compod.share_pids", msg: `unknown key "share_pids": compod knows share_pid`},
		{name: "x-compod share_pid not a bool", files: map[string]string{"compose.yaml": svc + "x-compod:\n  share_pid: sometimes\n"},
			file: "compose.yaml", field: "x-compod.share_pid", msg: "sometimes: want true or false"},
		{name: "hook without command", files: map[string]string{"compose.yaml": svc + "    post_start:\n      - command: []\n"},
			file: "compose.yaml", service: "web", field: "post_start[0].command", msg: "a hook needs a command"},
		{name: "hook relative working_dir", files: map[string]string{"compose.yaml": svc + "    pre_stop:\n      - command: [x]\n        working_dir: tmp\n"},
			file: "compose.yaml", service: "web", field: "pre_stop[0].working_dir", msg: `"tmp" is not an absolute path`},
		{name: "pre_start", files: map[string]string{"compose.yaml": svc + "    pre_start:\n      - command: [x]\n"},
			file: "compose.yaml", service: "web", field: "pre_start", msg: "service_completed_successfully"},
		{name: "unknown top-level key", files: map[string]string{"compose.yaml": svc + "servics:\n  api:\n    image: api\n"},
			file: "compose.yaml", field: "servics", msg: "unknown top-level key"},
		{name: "unknown key of a network", files: map[string]string{"compose.yaml": svc + "networks:\n  front:\n    colour: blue\n"},
			file: "compose.yaml", field: "networks.front.colour", msg: "unknown key"},
		{name: "error in an included file", files: map[string]string{"compose.yaml": "include: [sub/extra.yaml]\n" + svc, "sub/extra.yaml": "services:\n  api:\n    image: api\n    stop_signal: NOPE\n"},
			file: "sub/extra.yaml", service: "api", field: "stop_signal", msg: "unknown signal"},
		{name: "variable that empties a field", files: map[string]string{"compose.yaml": "services:\n  web:\n    image: ${IMAGE}\n"},
			file: "compose.yaml", service: "web", field: "image", msg: "image is required (variable IMAGE is not set: it was replaced by an empty string)"},
		{name: "scale", files: map[string]string{"compose.yaml": svc + "    scale: 2\n"},
			file: "compose.yaml", service: "web", field: "scale", msg: "2 replicas are not supported"},
		{name: "deploy replicas", files: map[string]string{"compose.yaml": svc + "    deploy:\n      replicas: 3\n"},
			file: "compose.yaml", service: "web", field: "deploy.replicas", msg: "3 replicas are not supported"},
		{name: "runtime", files: map[string]string{"compose.yaml": svc + "    runtime: runsc\n"},
			file: "compose.yaml", service: "web", field: "runtime", msg: `runtime "runsc" is not supported`},
		{name: "unknown capability", files: map[string]string{"compose.yaml": svc + "    cap_add: [NET_ADMIN, NET_FOO]\n"},
			file: "compose.yaml", service: "web", field: "cap_add[1]", msg: `unknown capability "NET_FOO"`},
		{name: "unknown capability in cap_drop", files: map[string]string{"compose.yaml": svc + "    cap_drop: [cap_net_raw, sys_foo]\n"},
			file: "compose.yaml", service: "web", field: "cap_drop[1]", msg: `unknown capability "sys_foo"`},
		{name: "service name starting with a dash", files: map[string]string{"compose.yaml": "services:\n  -x:\n    image: x\n"},
			file: "compose.yaml", service: "-x", msg: `invalid service name "-x": use letters, digits`},
		{name: "service name ..", files: map[string]string{"compose.yaml": "services:\n  ..:\n    image: x\n"},
			file: "compose.yaml", service: "..", msg: `invalid service name ".."`},
		{name: "service name with two dots in a row", files: map[string]string{"compose.yaml": "services:\n  a..b:\n    image: x\n"},
			file: "compose.yaml", service: "a..b", msg: "not have two of '_', '.', '-' in a row"},
		{name: "service name ending with a dash", files: map[string]string{"compose.yaml": "services:\n  web-:\n    image: x\n"},
			file: "compose.yaml", service: "web-", msg: "must end with a letter or digit"},
		{name: "service name too long for a container id", files: map[string]string{"compose.yaml": "services:\n  " + strings.Repeat("s", 73) + ":\n    image: x\n"},
			file: "compose.yaml", service: strings.Repeat("s", 73), msg: "longer than containerd's 76 characters"},
		{name: "service name in an override file", files: map[string]string{"compose.yaml": svc, "extra.yaml": "services:\n  _api:\n    image: api\n"},
			opts: func(dir string, o *LoadOptions) { o.Files = append(o.Files, filepath.Join(dir, "extra.yaml")) },
			file: "extra.yaml", service: "_api", msg: `invalid service name "_api"`},
		{name: "relative working_dir", files: map[string]string{"compose.yaml": svc + "    working_dir: srv\n"},
			file: "compose.yaml", service: "web", field: "working_dir", msg: `"srv" is not an absolute path`},
		{name: "cpus conflict", files: map[string]string{"compose.yaml": svc + "    cpus: 1\n    deploy:\n      resources:\n        limits:\n          cpus: \"2\"\n"},
			file: "compose.yaml", service: "web", field: "deploy.resources.limits.cpus", msg: "conflicts with cpus"},
		{name: "port without target", files: map[string]string{"compose.yaml": svc + "    ports: [\"80\", \"0:0\"]\n"},
			file: "compose.yaml", service: "web", field: "ports[1]", msg: "missing a target port"},
		{name: "cpus not a number", files: map[string]string{"compose.yaml": svc + "    deploy:\n      resources:\n        limits:\n          cpus: NaN\n"},
			file: "compose.yaml", service: "web", field: "deploy.resources.limits.cpus", msg: "NaN is not a number of CPUs"},
		{name: "cpus infinite", files: map[string]string{"compose.yaml": svc + "    deploy:\n      resources:\n        limits:\n          cpus: \"+Inf\"\n"},
			file: "compose.yaml", service: "web", field: "deploy.resources.limits.cpus", msg: "+Inf is not a number of CPUs"},
		{name: "healthcheck retries wrap", files: map[string]string{"compose.yaml": svc + "    healthcheck:\n      test: [CMD, x]\n      retries: 18446744073709551615\n"},
			file: "compose.yaml", service: "web", field: "healthcheck.retries", msg: "18446744073709551615 is too large"},
		{name: "negative grace period", files: map[string]string{"compose.yaml": svc + "    stop_grace_period: -5s\n"},
			file: "compose.yaml", service: "web", field: "stop_grace_period", msg: "must not be negative"},
		{name: "unknown compose field", files: map[string]string{"compose.yaml": svc + "    colour: blue\n"},
			file: "compose.yaml", service: "web", field: "colour", msg: "unknown field"},
		{name: "invalid duration", files: map[string]string{"compose.yaml": svc + "    stop_grace_period: soon\n"},
			file: "compose.yaml", service: "web", field: "stop_grace_period", msg: `invalid duration "soon"`},
		{name: "missing variable", files: map[string]string{"compose.yaml": "services:\n  web:\n    image: ${IMAGE:?set IMAGE}\n"},
			file: "compose.yaml", service: "web", field: "image", msg: "required variable IMAGE is missing a value"},
		{name: "yaml syntax", files: map[string]string{"compose.yaml": "services:\n  web:\n   image: x\n    ports: [\n"},
			file: "compose.yaml", msg: "yaml: line"},
		{name: "missing env_file", files: map[string]string{"compose.yaml": svc + "    env_file: web.env\n"},
			file: "compose.yaml", service: "web", field: "env_file", msg: "env file web.env not found"},
		{name: "missing compose file", files: map[string]string{"compose.yaml": svc},
			opts: func(dir string, o *LoadOptions) { o.Files = append(o.Files, filepath.Join(dir, "nope.yaml")) },
			file: "nope.yaml", msg: "compose file not found"},
		{name: "missing env file option", files: map[string]string{"compose.yaml": svc},
			opts: func(dir string, o *LoadOptions) { o.EnvFiles = []string{filepath.Join(dir, "prod.env")} },
			file: "prod.env", msg: "couldn't find env file"},
		{name: "bad interpolation in a list item", files: map[string]string{"compose.yaml": svc + "    command: [run, \"--port=${PORT\"]\n"},
			file: "compose.yaml", service: "web", field: "command[1]", msg: `invalid interpolation in "--port=${PORT": write a literal $ as $$`},
		{name: "bad interpolation in a nested list item", files: map[string]string{"compose.yaml": svc + "    x-opts: [[a, \"${\"]]\n"},
			file: "compose.yaml", service: "web", field: "x-opts[0][1]", msg: `invalid interpolation in "${"`},
		{name: "bad interpolation in a service written as a list", files: map[string]string{"compose.yaml": "services:\n  web: [\"${\"]\n"},
			file: "compose.yaml", service: "web", msg: `invalid interpolation in "${"`},
		{name: "container_name taken by another service", files: map[string]string{"compose.yaml": svc + "    container_name: api\n  api:\n    image: api:1\n"},
			file: "compose.yaml", service: "web", field: "container_name", msg: `"api" is already the name of service "api"`},
		{name: "invalid container_name", files: map[string]string{"compose.yaml": svc + "    container_name: -web\n"},
			file: "compose.yaml", service: "web", field: "container_name", msg: `invalid container name "-web"`},
		{name: "long project name", files: map[string]string{"compose.yaml": "name: " + strings.Repeat("x", 41) + "\n" + svc},
			file: "compose.yaml", field: "name", msg: "longer than 40 characters"},
		{name: "no services", files: map[string]string{"compose.yaml": svc + "    profiles: [web]\n"},
			file: "compose.yaml", field: "services", msg: "no services"},
		{name: "error in override file", files: map[string]string{"compose.yaml": svc, "compose.override.yaml": "services:\n  web:\n    network_mode: bridge\n"},
			opts: func(dir string, o *LoadOptions) {
				o.Files = append(o.Files, filepath.Join(dir, "compose.override.yaml"))
			},
			file: "compose.override.yaml", service: "web", field: "network_mode", msg: "not supported"},
		{name: "compose-go error in override file", files: map[string]string{"compose.yaml": svc, "prod.yaml": "services:\n  web:\n    ports: [\"70000:80\"]\n"},
			opts: func(dir string, o *LoadOptions) { o.Files = append(o.Files, filepath.Join(dir, "prod.yaml")) },
			file: "prod.yaml", service: "web", field: "ports[0]", msg: "70000"},
		{name: "service defined in override only", files: map[string]string{"compose.yaml": svc, "extra.yaml": "services:\n  api:\n    image: api\n    stop_signal: NOPE\n"},
			opts: func(dir string, o *LoadOptions) { o.Files = append(o.Files, filepath.Join(dir, "extra.yaml")) },
			file: "extra.yaml", service: "api", field: "stop_signal", msg: "unknown signal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeProject(t, tt.files)
			opts := LoadOptions{Files: []string{filepath.Join(dir, "compose.yaml")}, Environ: map[string]string{}}
			if tt.opts != nil {
				tt.opts(dir, &opts)
			}
			plan, err := Load(context.Background(), opts)
			if err == nil {
				t.Fatalf("Load succeeded, want an error; plan: %+v", plan)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
			for _, e := range allErrors(err) {
				if e.File == tt.file && e.Service == tt.service && e.Field == tt.field && strings.Contains(e.Msg, tt.msg) {
					want := tt.file + ": "
					if tt.service != "" {
						want += `service "` + tt.service + `": `
					}
					if tt.field != "" {
						want += `field "` + tt.field + `": `
					}
					if !strings.HasPrefix(e.Error(), want) {
						t.Errorf("error reads %q, want it to start with %q", e.Error(), want)
					}
					return
				}
			}
			t.Errorf("no error names file %q, service %q, field %q with %q; got:\n%v", tt.file, tt.service, tt.field, tt.msg, err)
			for _, e := range allErrors(err) {
				t.Logf("  %#v", *e)
			}
		})
	}
}
