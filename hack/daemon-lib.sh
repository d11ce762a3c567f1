# Sourced by hack/containerd.sh and hack/registry.sh: run a test daemon
# detached (own session) in its own cgroup, with a pidfile and a log.

# join_cgroup NAME PID: moves PID into the cgroup NAME at the root of every
# cgroup hierarchy (v1 controllers, name=systemd, unified), so the daemon,
# and containerd's shims after it, do not stay in the cgroup of whatever
# started the script (a CI job, a login session, a limited test cgroup).
join_cgroup() {
  local name=$1 pid=$2 mnt seen="" real
  if [ -f /sys/fs/cgroup/cgroup.procs ]; then # cgroup v2 only
    mkdir -p "/sys/fs/cgroup/$name"
    echo "$pid" >"/sys/fs/cgroup/$name/cgroup.procs"
    return
  fi
  for mnt in /sys/fs/cgroup/*; do
    [ -f "$mnt/cgroup.procs" ] || continue
    real=$(readlink -f "$mnt")
    case " $seen " in *" $real "*) continue ;; esac
    seen="$seen $real"
    mkdir -p "$real/$name"
    if [ -f "$real/$name/cpuset.cpus" ] && [ -z "$(cat "$real/$name/cpuset.cpus")" ]; then
      cat "$real/cpuset.cpus" >"$real/$name/cpuset.cpus"
      cat "$real/cpuset.mems" >"$real/$name/cpuset.mems"
    fi
    echo "$pid" >"$real/$name/cgroup.procs" || echo "warning: could not move $pid into $real/$name" >&2
  done
}

# pid_alive PIDFILE COMM: prints the pid if PIDFILE names a live COMM process.
pid_alive() {
  local pid
  [ -f "$1" ] || return 1
  pid=$(cat "$1")
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
  running "$pid" || return 1
  echo "$pid"
}

# running PID: PID exists and is not a zombie.
running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# start_daemon CGROUP PIDFILE LOG CMD...: starts CMD in a new session and in
# CGROUP, stdin from /dev/null, output appended to LOG; its pid goes to PIDFILE.
# No other descriptor of the caller reaches the daemon: a daemon restarted by
# a test run under `flock FILE go test` would otherwise hold that lock for
# as long as it lives.
start_daemon() {
  local cg=$1 pidfile=$2 log=$3
  shift 3
  export -f join_cgroup
  setsid bash -c 'for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done 2>/dev/null
    join_cgroup "$0" $$; echo $$ >"$1"; shift; exec "$@"' "$cg" "$pidfile" "$@" </dev/null >>"$log" 2>&1 &
  local i
  for i in $(seq 1 50); do # the pidfile appears within milliseconds
    [ -s "$pidfile" ] && return 0
    sleep 0.1
  done
  echo "daemon did not start, see $log" >&2
  return 1
}

# stop_daemon PIDFILE COMM SECONDS: SIGTERM, then SIGKILL after SECONDS.
stop_daemon() {
  local pid i
  pid=$(pid_alive "$1" "$2") || { rm -f "$1"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 $(($3 * 10))); do
    running "$pid" || break
    sleep 0.1
  done
  if running "$pid"; then
    echo "$2 (pid $pid) did not stop in $3s, killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  rm -f "$1"
}
