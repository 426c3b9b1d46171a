#!/usr/bin/env bash
# Renders what is generated from the chart and the code, so that none of it is edited by hand:
#   charts/driftgate/files/policy.yaml    = examples/policy.yaml (the chart's default policy)
#   charts/driftgate/files/alerts.yaml    = docs/alerts.yaml (the PrometheusRule's rules)
#   charts/driftgate/files/webhooks.yaml  = `driftgate manifests --helm-values` for that policy
#   manifests/install.yaml                = the chart, with charts/driftgate/ci/install-values.yaml
#   manifests/cert-manager/certificates.yaml = the chart's cert-manager objects
#
#   bash charts/render.sh          # write them
#   bash charts/render.sh --check  # render into a temp dir and fail, naming each stale file
# Needs dist/ built (npm run build) and builds helm (test/helm/build.sh) when missing.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
CHECK=false
[[ "${1:-}" == "--check" ]] && CHECK=true

HELM="${DRIFTGATE_HELM:-$(bash test/helm/build.sh | tail -n1)}"
# driftgate runs on Node 24: the one npm ci installs, when the shell's own node is older.
NODE=node
[[ -x node_modules/.bin/node ]] && NODE="$REPO/node_modules/.bin/node"
[[ -f dist/cli/main.js ]] || { echo "charts/render.sh: dist/cli/main.js is missing; run npm run build" >&2; exit 1; }

OUT="$REPO"
if $CHECK; then
  OUT="$(mktemp -d)"
  trap 'rm -rf "$OUT"' EXIT
  mkdir -p "$OUT/charts" "$OUT/manifests/cert-manager"
  cp -r charts/driftgate "$OUT/charts/driftgate"
fi
CHART="$OUT/charts/driftgate"
mkdir -p "$CHART/files" "$OUT/manifests/cert-manager"

cp examples/policy.yaml "$CHART/files/policy.yaml"
cp docs/alerts.yaml "$CHART/files/alerts.yaml"
{
  echo "# The example policy's webhook entries, rendered by charts/render.sh with"
  echo "#   driftgate manifests --helm-values --policy examples/policy.yaml --service driftgate-system/driftgate"
  echo "# (its webhooks.rendered value). Do not edit: render again."
  "$NODE" dist/cli/main.js manifests --helm-values --policy examples/policy.yaml --service driftgate-system/driftgate \
    | "$NODE" -e '
      const { parse, stringify } = require("yaml");
      let text = ""; process.stdin.on("data", (c) => (text += c)).on("end", () => {
        process.stdout.write(stringify(parse(text).webhooks.rendered, { aliasDuplicateObjects: false, lineWidth: 0 }));
      });'
} > "$CHART/files/webhooks.yaml"

template() { "$HELM" template driftgate "$CHART" --namespace driftgate-system "$@"; }
{
  echo "# driftgate, installed with kubectl: kubectl apply --server-side -f manifests/install.yaml"
  echo "# Generated from charts/driftgate by charts/render.sh (values: charts/driftgate/ci/install-values.yaml);"
  echo "# do not edit, change the chart and render again. It holds everything but the certificates and"
  echo "# the webhook configurations, which depend on your CA and your policy: docs/install.md."
  template -f "$CHART/ci/install-values.yaml"
} > "$OUT/manifests/install.yaml"
{
  echo "# The cert-manager variant of driftgate's certificates (Issuers and Certificates), for a kubectl"
  echo "# install: apply after manifests/install.yaml, then render the webhooks with"
  echo "#   driftgate manifests … --ca-inject-from driftgate-system/driftgate-tls"
  echo "# Generated from charts/driftgate by charts/render.sh; do not edit."
  template --set certificates.mode=cert-manager --show-only templates/certificates.yaml
} > "$OUT/manifests/cert-manager/certificates.yaml"

if $CHECK; then
  stale=0
  for f in charts/driftgate/files/policy.yaml charts/driftgate/files/alerts.yaml charts/driftgate/files/webhooks.yaml manifests/install.yaml manifests/cert-manager/certificates.yaml; do
    if ! cmp -s "$OUT/$f" "$REPO/$f"; then
      echo "stale: $f (run: npm run build && bash charts/render.sh)"
      diff -u "$REPO/$f" "$OUT/$f" | head -n 40 || true
      stale=1
    fi
  done
  exit "$stale"
fi
