#!/usr/bin/env bash
# Builds the control plane if needed (build.sh), then runs the launcher in the
# foreground. Arguments go to `controlplane` (see README.md), e.g.
#   test/harness/start.sh --work-dir /tmp/cp --keep
# It prints `READY <path of controlplane.json>` when the apiserver is ready and runs
# until SIGINT/SIGTERM (or stdin EOF when stdin is a pipe, or its parent's death).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN_DIR="$("$HERE/build.sh" | tail -n 1)"
exec "$BIN_DIR/controlplane" --bin-dir "$BIN_DIR" "$@"
