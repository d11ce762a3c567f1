#!/usr/bin/env bash
# hack/containerd.sh start|stop|status|restart: a private containerd for
# compod's tests and demo, apart from any system containerd:
#   config  /run/compod-test/containerd.toml
#   socket  /run/compod-test/containerd.sock   (COMPOD_TEST_CONTAINERD)
#   root    /var/lib/compod-test/containerd
#   state   /run/compod-test/containerd
#   log     /run/compod-test/containerd.log, pid in containerd.pid
#   cgroup  /compod-test-containerd in every hierarchy (not the caller's)
# Stopping it leaves running shims and containers alone, like a containerd
# restart on a real host.
set -euo pipefail
cd "$(dirname "$0")"
. ./daemon-lib.sh

run=/run/compod-test
root=/var/lib/compod-test/containerd
sock=${COMPOD_TEST_CONTAINERD:-$run/containerd.sock}
conf=$run/containerd.toml
log=$run/containerd.log
pidfile=$run/containerd.pid

answers() { ctr --address "$sock" --timeout 2s version >/dev/null 2>&1; }

status() {
  local pid
  if pid=$(pid_alive "$pidfile" containerd) && answers; then
    echo "containerd running (pid $pid, $sock)"
    return 0
  fi
  echo "containerd not running ($sock)"
  return 1
}

write_config() {
  cat >"$conf" <<TOML
# Written by hack/containerd.sh: compod's private test containerd.
version = 2
root = "$root"
state = "$run/containerd"
oom_score = 0
# No CRI (it needs a network and a sandbox image), no snapshotters that
# are not used here. Clients use the overlayfs snapshotter (the default)
# and the io.containerd.runc.v2 runtime (the default).
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
]

[grpc]
  address = "$sock"

[ttrpc]
  address = "$sock.ttrpc"

[debug]
  level = "info"

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$root/opt"
  [plugins."io.containerd.snapshotter.v1.overlayfs"]
    root_path = "$root/io.containerd.snapshotter.v1.overlayfs"
TOML
}

start() {
  if status >/dev/null; then
    status
    return 0
  fi
  for bin in containerd ctr runc containerd-shim-runc-v2; do
    command -v "$bin" >/dev/null || { echo "$bin not found: run hack/setup.sh" >&2; exit 1; }
  done
  # A previous daemon that no longer answers: stop it first.
  stop_daemon "$pidfile" containerd 10
  mkdir -p "$run" "$root"
  write_config
  rm -f "$pidfile"
  echo "=== $(date -Is) starting containerd" >>"$log"
  start_daemon compod-test-containerd "$pidfile" "$log" containerd --config "$conf"
  local i
  for i in $(seq 1 300); do
    if answers; then
      status
      return 0
    fi
    if ! pid_alive "$pidfile" containerd >/dev/null; then
      echo "containerd exited; last lines of $log:" >&2
      tail -n 30 "$log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "containerd did not answer on $sock within 30s; last lines of $log:" >&2
  tail -n 30 "$log" >&2
  exit 1
}

stop() {
  stop_daemon "$pidfile" containerd 20
  rm -f "$sock" "$sock.ttrpc"
  echo "containerd stopped"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
restart) stop; start ;;
status) status ;;
*)
  echo "usage: $0 start|stop|status|restart" >&2
  exit 2
  ;;
esac
