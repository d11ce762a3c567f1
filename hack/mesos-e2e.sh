#!/usr/bin/env bash
# make mesos-e2e MESOS_BUILD=<dir>: compod under a real Mesos master and
# agent built from source (docs/mesos.md, "Real-agent check"). For each
# isolator set it starts a master and an agent on loopback, runs the
# scenarios of test/mesosframework/cmd/compod-mesos-e2e (a v1 framework that
# launches compod as a CUSTOM executor: launch, port, cgroup, KILL,
# executor crash), stops both by PID and prints a summary table. Exits
# non-zero when anything failed. Not part of `make test`.
#
# Environment:
#   MESOS_BUILD              Mesos build dir (has src/mesos-master, src/mesos-agent); required
#   MESOS_E2E_ISOLATION      isolator sets, separated by spaces (default: the three below)
#   MESOS_E2E_SCENARIOS      scenarios, comma-separated (default: all)
#   COMPOD_TEST_CONTAINERD   containerd socket (default /run/compod-test/containerd.sock)
set -euo pipefail

die() {
  echo "mesos-e2e: $*" >&2
  exit 2
}

if [ -z "${MESOS_BUILD:-}" ]; then
  die "MESOS_BUILD is not set. Build Apache Mesos from source (docs/mesos.md, \"Real-agent check\") and run
  make mesos-e2e MESOS_BUILD=/path/to/mesos/build   # the directory with src/mesos-master and src/mesos-agent"
fi
[ -d "$MESOS_BUILD" ] || die "MESOS_BUILD=$MESOS_BUILD is not a directory"
B=$(cd "$MESOS_BUILD" && pwd)
for f in src/mesos-master src/mesos-agent; do
  [ -x "$B/$f" ] || die "MESOS_BUILD=$B has no executable $f: give the Mesos build directory (where make was run), and let the build finish"
done
[ "$(id -u)" = 0 ] || die "run as root (the agent's cgroups isolation, containerd, CNI)"

cd "$(dirname "$0")/.."
repo=$(pwd)

E2E=/var/tmp/compod-mesos-e2e
SOCK=${COMPOD_TEST_CONTAINERD:-/run/compod-test/containerd.sock}
NS=compod-mesos-e2e
STATE=$E2E/state
MASTER=127.0.0.1:5150
AGENT=127.0.0.1:5151
PORTS=31000-31010
LOCK=/tmp/compod-itest.lock
ISOLATION=${MESOS_E2E_ISOLATION:-cgroups/cpu,cgroups/mem filesystem/linux,cgroups/cpu,cgroups/mem filesystem/linux,namespaces/pid,cgroups/cpu,cgroups/mem}
SCENARIOS=${MESOS_E2E_SCENARIOS:-launch,port,cgroup,kill,crash}
compod=$repo/bin/compod
framework=$repo/bin/compod-mesos-e2e

master_pid=""
agent_pid=""
started_containerd=0

# stop PID NAME SECONDS: SIGTERM, then SIGKILL.
stop() {
  local pid=$1 name=$2 i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 $(($3 * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "mesos-e2e: $name (pid $pid) did not stop in $3s, killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

stop_mesos() {
  stop "$agent_pid" mesos-agent 20
  agent_pid=""
  stop "$master_pid" mesos-master 10
  master_pid=""
}

# remove_pods: pods the executors left behind in compod's namespace (a
# crashed executor's pod) are removed with compod down.
remove_pods() {
  local pod
  for pod in $(CONTAINERD_ADDRESS=$SOCK CONTAINERD_NAMESPACE=$NS COMPOD_STATE_DIR=$STATE \
    "$compod" ps 2>/dev/null | awk 'NR > 1 { print $1 }' | sort -u); do
    echo "mesos-e2e: removing leftover pod $pod"
    CONTAINERD_ADDRESS=$SOCK CONTAINERD_NAMESPACE=$NS COMPOD_STATE_DIR=$STATE \
      "$compod" down -p "$pod" -t 2 >/dev/null 2>&1 || echo "mesos-e2e: compod down -p $pod failed" >&2
  done
}

# remove_mesos_cgroups: empty container cgroups the agent left (a cgroup
# with processes stays, and is reported).
remove_mesos_cgroups() {
  local d
  for d in /sys/fs/cgroup/*/mesos /sys/fs/cgroup/mesos; do
    [ -d "$d" ] || continue
    find "$d" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null || true
    if [ -n "$(find "$d" -mindepth 1 -type d 2>/dev/null)" ]; then
      echo "mesos-e2e: cgroups left under $d: $(find "$d" -mindepth 1 -maxdepth 1 -type d -printf '%f ' 2>/dev/null)" >&2
    fi
  done
}

cleanup() {
  local status=$?
  stop_mesos
  remove_pods || true
  if [ "$started_containerd" = 1 ]; then hack/containerd.sh stop || true; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

hack/setup.sh
echo "== building compod and the framework"
make --no-print-directory build
go build -o "$framework" ./test/mesosframework/cmd/compod-mesos-e2e

# Other engineers' integration tests share the private containerd and the
# host (netns, iptables, cgroups): one at a time.
echo "== waiting for $LOCK"
exec 9>"$LOCK"
flock 9

if ! hack/containerd.sh status >/dev/null 2>&1; then
  COMPOD_TEST_CONTAINERD=$SOCK hack/containerd.sh start
  started_containerd=1
fi
echo "== importing the test images into namespace $NS"
go run ./hack/images --address "$SOCK" --namespace "$NS"

for port in ${MASTER##*:} ${AGENT##*:}; do
  if ss -Hltn "sport = :$port" | grep -q .; then
    die "port $port is in use (a Mesos master or agent from an earlier run?): $(ss -Hltnp "sport = :$port")"
  fi
done

# Each run keeps its logs and results apart: $E2E/logs/<date-time>/.
out=$E2E/logs/$(date +%Y%m%d-%H%M%S)
results=$out/results.tsv
mkdir -p "$out" "$STATE"
: >"$results"
env_json=$(printf '{"PATH":"/usr/sbin:/usr/bin:/sbin:/bin","CONTAINERD_ADDRESS":"%s","CONTAINERD_NAMESPACE":"%s","COMPOD_STATE_DIR":"%s","COMPOD_CNI_BIN_DIR":"/usr/lib/cni:/opt/cni/bin","COMPOD_LOG_LEVEL":"debug"}' "$SOCK" "$NS" "$STATE")

# fail_set SET WHY: every scenario of SET failed for WHY.
fail_set() {
  local s
  for s in ${SCENARIOS//,/ }; do
    printf '%s\t%s\tFAIL\t\t%s\n' "$1" "$s" "$2" >>"$results"
  done
}

# wait_agent: the master lists one registered agent.
wait_agent() {
  local i
  for i in $(seq 1 600); do
    kill -0 "$master_pid" 2>/dev/null || { echo "mesos-master exited"; return 1; }
    kill -0 "$agent_pid" 2>/dev/null || { echo "mesos-agent exited"; return 1; }
    if busybox wget -qO- "http://$MASTER/state" 2>/dev/null | grep -q '"slaves":\[{'; then
      return 0
    fi
    sleep 0.1
  done
  echo "no agent registered with the master within 60s"
  return 1
}

n=0
for set in $ISOLATION; do
  n=$((n + 1))
  dir=$E2E/run
  logs=$out/$n-${set//[,\/]/_}
  rm -rf "$dir"
  mkdir -p "$dir/master" "$dir/agent" "$dir/agent-run" "$dir/fetch" "$logs"
  echo
  echo "== [$n] --isolation=$set"

  "$B/src/mesos-master" --ip=127.0.0.1 --port="${MASTER##*:}" --work_dir="$dir/master" \
    >"$logs/master.log" 2>&1 &
  master_pid=$!
  # This Mesos refuses a hybrid host whose cgroup2 sits at
  # /sys/fs/cgroup/unified: the agent gets its own mount namespace without
  # that one mount (every other mount is shared as it is).
  unshare -m --propagation unchanged sh -c \
    'mount --make-private /sys/fs/cgroup/unified; umount /sys/fs/cgroup/unified; exec "$0" "$@"' \
    "$B/src/mesos-agent" --master="$MASTER" --ip=127.0.0.1 --port="${AGENT##*:}" \
    --work_dir="$dir/agent" --runtime_dir="$dir/agent-run" --fetcher_cache_dir="$dir/fetch" \
    --launcher_dir="$B/src" --isolation="$set" --no-systemd_enable_support \
    --resources="cpus:2;mem:2048;ports:[$PORTS]" \
    --executor_environment_variables="$env_json" \
    >"$logs/agent.log" 2>&1 &
  agent_pid=$!

  if why=$(wait_agent); then
    status=0
    "$framework" -master "$MASTER" -agent "$AGENT" -agent-pid "$agent_pid" -compod "$compod" -work-dir "$dir/framework" \
      -containerd "$SOCK" -namespace "$NS" -set "$set" -results "$results" -scenarios "$SCENARIOS" ||
      status=$?
    if [ "$status" != 0 ] && ! awk -F'\t' -v s="$set" '$1 == s { found = 1 } END { exit !found }' "$results"; then
      fail_set "$set" "framework exited with status $status before reporting (see the output above)"
    fi
  else
    echo "mesos-e2e: $why; last lines of the logs:" >&2
    tail -n 20 "$logs/master.log" "$logs/agent.log" >&2 || true
    fail_set "$set" "$why"
  fi

  stop_mesos
  # Keep the logs (master, agent, each executor's stdout/stderr and the
  # compose files' effective plans), then remove the work dirs.
  while IFS= read -r -d '' f; do
    run=$(dirname "$f")
    exe=$(basename "$(dirname "$(dirname "$run")")")
    mkdir -p "$logs/$exe"
    cp -p "$run"/stdout "$run"/stderr "$logs/$exe/" 2>/dev/null || true
    cp -p "$run"/compod-plan.json "$run"/ports.json "$logs/$exe/" 2>/dev/null || true
  done < <(find "$dir/agent" -path '*/executors/*/runs/*' -name stderr -print0 2>/dev/null)
  remove_pods
  remove_mesos_cgroups
  # The agent's work dir may hold mounts (filesystem/linux): unmount first.
  { grep -o " $dir/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$dir"
done

echo
echo "== summary (figures: LAUNCH->RUNNING, KILL->KILLED; logs and results.tsv in $out)"
# results.tsv: set, scenario, PASS/FAIL/SKIP, figures, detail (tab-separated;
# fields may be empty, so awk rather than read, which merges tabs).
awk -F'\t' 'BEGIN { OFS = "\t"; print "ISOLATION", "SCENARIO", "RESULT", "FIGURES" }
  { print $1, $2, $3, ($4 == "" ? "-" : $4) }' "$results" | column -t -s $'\t'
if awk -F'\t' '$3 == "FAIL" { found = 1 } END { exit !found }' "$results"; then
  echo
  echo "failures:"
  awk -F'\t' '$3 == "FAIL" { printf "  [%s] %s: %s\n", $1, $2, $5 }' "$results"
  exit 1
fi
echo "mesos-e2e: all scenarios passed"
