#!/usr/bin/env bash
# Installs what compod's tests and demo need from Debian, only when missing:
# containerd, runc, CNI plugins, iptables, iproute2, busybox-static,
# docker-registry, gcc (for the race detector). It never starts system services: a policy-rc.d that
# refuses every start is in place while apt runs. If a package's
# maintainer script did start a system containerd or registry, it is left
# alone; tests use only the private daemons of hack/containerd.sh and
# hack/registry.sh.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
  echo "hack/setup.sh: run as root" >&2
  exit 1
fi

# package -> a file it installs (cheaper and more robust than dpkg queries)
declare -A want=(
  [containerd]=/usr/bin/containerd
  [runc]=/usr/sbin/runc
  [containernetworking-plugins]=/usr/lib/cni/bridge
  [iptables]=/usr/sbin/iptables
  [iproute2]=/usr/sbin/ip
  [busybox-static]=/bin/busybox
  [docker-registry]=/usr/bin/docker-registry
  # go test -race needs cgo: a C compiler and libc's headers.
  [gcc]=/usr/bin/gcc
  [libc6-dev]=/usr/include/stdio.h
)
missing=()
for pkg in "${!want[@]}"; do
  if [ ! -e "${want[$pkg]}" ]; then
    missing+=("$pkg")
  fi
done
# busybox-static, not the dynamic busybox: test images have no libc.
if [ -e /bin/busybox ] && ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
  missing+=(busybox-static)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "hack/setup.sh: all host packages present"
  exit 0
fi

echo "hack/setup.sh: installing ${missing[*]}"
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# hack/setup.sh: no service starts while installing\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  own_policy=1
fi
cleanup() { if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"

for pkg in "${!want[@]}"; do
  if [ ! -e "${want[$pkg]}" ]; then
    echo "hack/setup.sh: $pkg installed but ${want[$pkg]} is missing" >&2
    exit 1
  fi
done
echo "hack/setup.sh: done"
