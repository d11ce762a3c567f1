#!/usr/bin/env bash
# Removes what earlier, interrupted test runs left on the host's shared
# CNI state, before `make test` starts any test: host-local IPAM
# reservations, portmap/bridge iptables rules and chains, and firewall
# CNI-FORWARD rules of pods of the test namespace (CNI ids start with
# "compod-test-", the containerd namespace of internal/testenv).
#
# Why: a leftover host-port DNAT keeps capturing connections to its port
# on every local address, 127.0.0.1 included. A later test whose listener
# (the agent emulator's, say) the kernel happens to give that port then
# gets "no route to host" from its own clients. The tests' leak checks
# compare with a snapshot taken at their start, so state older than the
# run is invisible to them; this script is where it goes.
#
# It touches only state marked as the test namespace's, and firewall rules
# of addresses in compod's default subnet that no reservation holds. Run it
# only when no test is running.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
  echo "hack/reap-test-leftovers.sh: run as root" >&2
  exit 1
fi

prefix=compod-test-
ipam=/run/compod/cni/ipam
subnet_re='^10\.89\.'
reaped=0

# IPAM reservations: file named by the address, first line the CNI id.
if [ -d "$ipam" ]; then
  for f in "$ipam"/*/*; do
    [ -f "$f" ] || continue
    case "$(basename "$f")" in lock | last_reserved_ip.*) continue ;; esac
    if head -n1 "$f" | grep -q "^$prefix"; then
      rm -f "$f"
      reaped=$((reaped + 1))
    fi
  done
fi

command -v iptables >/dev/null || exit 0

# nat: every rule whose comment names a test pod's CNI id, then the
# per-pod chains those rules jumped to.
chains=()
while IFS= read -r rule; do
  # shellcheck disable=SC2086 # iptables -S output is shell-quoted words
  eval "set -- $rule"
  shift # -A
  chain=$1
  target=""
  args=("$@")
  for ((i = 0; i < ${#args[@]}; i++)); do
    if [ "${args[$i]}" = -j ]; then target=${args[$((i + 1))]}; fi
  done
  iptables -w -t nat -D "${args[@]}" && reaped=$((reaped + 1))
  case "$target" in CNI-DN-* | CNI-[0-9a-f]*) chains+=("$target") ;; esac
  : "$chain"
done < <(iptables -w -t nat -S | grep -F "id: \\\"$prefix" | grep '^-A ')
for c in "${chains[@]+"${chains[@]}"}"; do
  iptables -w -t nat -F "$c" 2>/dev/null || true
  iptables -w -t nat -X "$c" 2>/dev/null || true
done

# filter CNI-FORWARD (firewall plugin, no comments): rules of addresses in
# compod's default subnet that no reservation holds any more.
while IFS= read -r rule; do
  ip=$(grep -oE -- '-[sd] [0-9.]+/32' <<<"$rule" | head -n1 | awk '{print $2}' | cut -d/ -f1 || true)
  [ -n "$ip" ] || continue
  grep -qE "$subnet_re" <<<"$ip" || continue
  if compgen -G "$ipam/*/$ip" >/dev/null; then continue; fi
  eval "set -- $rule"
  shift
  iptables -w -t filter -D "$@" && reaped=$((reaped + 1))
done < <(iptables -w -t filter -S CNI-FORWARD 2>/dev/null | grep '^-A ' || true)

echo "hack/reap-test-leftovers.sh: removed $reaped leftover(s) of earlier test runs"
