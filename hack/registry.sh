#!/usr/bin/env bash
# hack/registry.sh start|stop|status: Debian's docker-registry on loopback for
# pull tests, apart from any system registry:
#   address  ${COMPOD_TEST_REGISTRY:-127.0.0.1:5000} (plain HTTP)
#   config   /run/compod-test/registry.yml
#   storage  /var/lib/compod-test/registry
#   log      /run/compod-test/registry.log, pid in registry.pid
set -euo pipefail
cd "$(dirname "$0")"
. ./daemon-lib.sh

run=/run/compod-test
addr=${COMPOD_TEST_REGISTRY:-127.0.0.1:5000}
storage=/var/lib/compod-test/registry
conf=$run/registry.yml
log=$run/registry.log
pidfile=$run/registry.pid
comm=docker-registry

# GET /v2/ answers 200. (Plain bash: busybox-static 1.35's `wget -T`
# segfaults.)
answers() {
  timeout 2 bash -c '
    exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || exit 1
    printf "GET /v2/ HTTP/1.0\r\nHost: %s\r\n\r\n" "$1" >&3
    read -r proto code rest <&3
    [ "$code" = 200 ]' _ "$addr" 2>/dev/null
}

status() {
  local pid
  if pid=$(pid_alive "$pidfile" "$comm") && answers; then
    echo "registry running (pid $pid, $addr)"
    return 0
  fi
  echo "registry not running ($addr)"
  return 1
}

start() {
  if status >/dev/null; then
    status
    return 0
  fi
  command -v docker-registry >/dev/null || { echo "docker-registry not found: run hack/setup.sh" >&2; exit 1; }
  stop_daemon "$pidfile" "$comm" 10
  if answers; then
    echo "something else already serves a registry on $addr; set COMPOD_TEST_REGISTRY to a free address" >&2
    exit 1
  fi
  mkdir -p "$run" "$storage"
  cat >"$conf" <<YAML
# Written by hack/registry.sh: compod's private test registry.
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $storage
  delete:
    enabled: true
http:
  addr: $addr
YAML
  rm -f "$pidfile"
  echo "=== $(date -Is) starting registry" >>"$log"
  start_daemon compod-test-registry "$pidfile" "$log" docker-registry serve "$conf"
  local i
  for i in $(seq 1 300); do
    if answers; then
      status
      return 0
    fi
    if ! pid_alive "$pidfile" "$comm" >/dev/null; then
      echo "registry exited; last lines of $log:" >&2
      tail -n 30 "$log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "registry did not answer on $addr within 30s; see $log" >&2
  exit 1
}

stop() {
  stop_daemon "$pidfile" "$comm" 10
  echo "registry stopped"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*)
  echo "usage: $0 start|stop|status" >&2
  exit 2
  ;;
esac
