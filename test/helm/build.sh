#!/usr/bin/env bash
# Builds the helm CLI pinned in go.mod (helm.sh/helm/v4) into a version-keyed cache directory
# and prints the binary's path on the last line of stdout. The chart tests (test/unit/chart)
# run it; test/setup.sh builds it ahead of them, in the background while the control plane builds.
#
#   test/helm/build.sh                  # <repo>/.cache/helm/<helm-version>/helm
#   DRIFTGATE_HELM_CACHE=/dir build.sh  # <dir>/<helm-version>/helm
#
# A cold build takes a few minutes on 2 cores (less when test/harness already filled Go's build
# cache with the Kubernetes modules both pin); afterwards it is reused as long as go.mod, go.sum
# and the Go toolchain are unchanged (.stamp). Progress goes to stderr.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
cd "$HERE"

export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -mod=readonly -buildvcs=false"

command -v go >/dev/null || { echo "test/helm/build.sh: go not found in PATH" >&2; exit 1; }

VERSION="$(go list -m -f '{{.Version}}' helm.sh/helm/v4)"
OUT="${DRIFTGATE_HELM_CACHE:-$REPO/.cache/helm}/$VERSION"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

# One build at a time per cache directory (test/setup.sh in the background and a test at once).
exec 9>"$OUT/.lock"
flock 9

# `helm version` prints what these set; upstream's Makefile sets the same variables.
LDFLAGS="-s -w -X helm.sh/helm/v4/internal/version.version=$VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
STAMP="$( { cat go.mod go.sum; echo "$(go env GOVERSION) $LDFLAGS"; } | sha256sum | cut -d' ' -f1)"
if [[ "$(cat "$OUT/.stamp" 2>/dev/null || true)" != "$STAMP" || ! -x "$OUT/helm" ]]; then
  echo "test/helm/build.sh: building helm $VERSION into $OUT (a cold build takes a few minutes)" >&2
  start=$(date +%s)
  go build -trimpath -ldflags "$LDFLAGS" -o "$OUT/.tmp-helm" helm.sh/helm/v4/cmd/helm
  mv -f "$OUT/.tmp-helm" "$OUT/helm"
  echo "$STAMP" > "$OUT/.stamp"
  echo "test/helm/build.sh: built helm in $(( $(date +%s) - start ))s" >&2
fi
echo "$OUT/helm"
