#!/usr/bin/env bash
# make demo: on a fresh Debian machine, install what compod needs, start a
# private containerd, build and import the demo images, run the demo pod,
# fetch a page through its published port, then tear it all down.
set -euo pipefail
cd "$(dirname "$0")/.."

export CONTAINERD_ADDRESS=${COMPOD_TEST_CONTAINERD:-/run/compod-test/containerd.sock}
export CONTAINERD_NAMESPACE=compod-demo
export COMPOD_STATE_DIR=/var/lib/compod-demo
compod=bin/compod

started_containerd=0
cleanup() {
  "$compod" down -p demo -t 5 >/dev/null 2>&1 || true
  if [ "$started_containerd" = 1 ]; then hack/containerd.sh stop || true; fi
}
trap cleanup EXIT

hack/setup.sh
make --no-print-directory build
if ! hack/containerd.sh status >/dev/null 2>&1; then
  hack/containerd.sh start
  started_containerd=1
fi
echo "== importing the demo images (built from this repo)"
go run ./hack/images --address "$CONTAINERD_ADDRESS" --namespace "$CONTAINERD_NAMESPACE"

echo "== compod up -d"
"$compod" up -d -f examples/demo/compose.yaml -p demo
echo "== compod ps"
"$compod" ps -p demo

echo "== fetching http://127.0.0.1:18080/ through the published port"
for i in $(seq 1 50); do
  if page=$(busybox wget -qO- http://127.0.0.1:18080/ 2>/dev/null); then break; fi
  sleep 0.2
done
echo "$page"
[ -n "${page:-}" ] || { echo "demo: the web service did not answer" >&2; exit 1; }

sleep 2.5
echo "== compod logs -p demo sidecar"
"$compod" logs -p demo sidecar

echo "== compod down"
"$compod" down -p demo
echo "demo done"
