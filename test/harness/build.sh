#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, etcd, kubectl (from the Go modules pinned in go.mod) and the
# `controlplane` launcher into a version-keyed cache directory, and prints that
# directory on the last line of stdout.
#
#   test/harness/build.sh                 # default cache: <repo>/.cache/controlplane/<k8s-version>/
#   DRIFTGATE_CP_CACHE=/some/dir build.sh # cache root override (<root>/<k8s-version>/)
#
# Binaries already present (and built from the same go.mod/go.sum/toolchain, see .stamp)
# are not rebuilt. A cold build on 2 cores takes many minutes: run it in the background
# when calling from a shell with a time limit. Progress goes to stderr.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
cd "$HERE"

export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -mod=readonly -buildvcs=false"

log() { printf 'build.sh: %s\n' "$*" >&2; }

command -v go >/dev/null || { log "go not found in PATH"; exit 1; }

K8S_VERSION="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"
ETCD_VERSION="$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)"
GO_VERSION="$(go env GOVERSION)"

CACHE_ROOT="${DRIFTGATE_CP_CACHE:-$REPO/.cache/controlplane}"
OUT="$CACHE_ROOT/$K8S_VERSION"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

# Only one build at a time per cache dir (parallel test runners, a developer and CI...).
exec 9>"$OUT/.lock"
flock 9

# kube-apiserver / kubectl report this in /version and `kubectl version`.
# (hack/lib/version.sh of upstream sets the same variables.)
MAJOR="${K8S_VERSION#v}"; MAJOR="${MAJOR%%.*}"
MINOR="${K8S_VERSION#v*.}"; MINOR="${MINOR%%.*}"
LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDFLAGS+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$MAJOR -X $pkg.gitMinor=$MINOR"
  LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

# The stamp identifies everything that goes into the big binaries. If it differs from the
# one stored with the binaries, they are rebuilt.
STAMP="$( { cat go.mod go.sum; echo "$GO_VERSION $LDFLAGS"; } | sha256sum | cut -d' ' -f1)"
# (A binary is moved into place only after a successful build from these inputs.)
if [[ "$(cat "$OUT/.stamp" 2>/dev/null || true)" != "$STAMP" ]]; then
  rm -f "$OUT/kube-apiserver" "$OUT/kube-controller-manager" "$OUT/etcd" "$OUT/kubectl"
  echo "$STAMP" > "$OUT/.stamp"
fi

# binary name -> package
declare -A PKG=(
  [kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
  [kube-controller-manager]=k8s.io/kubernetes/cmd/kube-controller-manager
  [kubectl]=k8s.io/kubernetes/cmd/kubectl
  [etcd]=go.etcd.io/etcd/server/v3
)

missing=()
for bin in kube-apiserver kube-controller-manager etcd kubectl; do
  [[ -x "$OUT/$bin" ]] || missing+=("$bin")
done

if ((${#missing[@]})); then
  log "building ${missing[*]} (kubernetes $K8S_VERSION, etcd $ETCD_VERSION, $GO_VERSION) into $OUT"
  log "a cold build takes many minutes on 2 cores"
  start=$(date +%s)
  for bin in "${missing[@]}"; do
    tmp="$OUT/.tmp-$bin"
    rm -f "$tmp"
    log "go build ${PKG[$bin]}"
    go build -trimpath -ldflags "$LDFLAGS" -o "$tmp" "${PKG[$bin]}"
    mv -f "$tmp" "$OUT/$bin"
  done
  log "built ${missing[*]} in $(( $(date +%s) - start ))s"
fi

# The launcher is small: always hand it to `go build`, which relinks only when its
# sources changed.
go build -trimpath -o "$OUT/.tmp-controlplane" ./cmd/controlplane
if ! cmp -s "$OUT/.tmp-controlplane" "$OUT/controlplane" 2>/dev/null; then
  mv -f "$OUT/.tmp-controlplane" "$OUT/controlplane"
else
  rm -f "$OUT/.tmp-controlplane"
fi

echo "$OUT"
