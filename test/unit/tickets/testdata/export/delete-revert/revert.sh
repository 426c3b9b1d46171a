#!/bin/sh
# Reverts backport ticket bt-shop-flags-2 (INC-123) live: configmaps/flags in namespace shop,
# undoing its 2 changes, newest first.
set -eu
kubectl create -n shop -f - <<'DRIFTGATE_EOF'
{
  "apiVersion": "v1",
  "data": {
    "checkout": "v1"
  },
  "kind": "ConfigMap",
  "metadata": {
    "name": "flags",
    "namespace": "shop"
  }
}
DRIFTGATE_EOF
# Then record the decision:
#   driftgate tickets resolve bt-shop-flags-2 --decision revert --ref <where> --by <you>
