#!/usr/bin/env bash
# Builds celcheck (the apiserver's own match-condition evaluator, see main.go) into
# <repo>/.cache/celcheck/ and prints the binary's path on the last line of stdout.
# `go build` relinks only when the sources or go.sum changed: a warm call takes a second or two.
# Shares the Go build cache with test/harness/build.sh (same CGO/trimpath flags), so after the
# control plane is built a cold build of this takes well under a minute.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
cd "$HERE"
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -mod=readonly -buildvcs=false"
command -v go >/dev/null || { echo "celcheck/build.sh: go not found in PATH" >&2; exit 1; }
OUT="$REPO/.cache/celcheck"
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9
go build -trimpath -o "$OUT/.tmp-celcheck" .
if ! cmp -s "$OUT/.tmp-celcheck" "$OUT/celcheck" 2>/dev/null; then
  mv -f "$OUT/.tmp-celcheck" "$OUT/celcheck"
else
  rm -f "$OUT/.tmp-celcheck"
fi
echo "$OUT/celcheck"
