#!/bin/sh
# Reverts backport ticket bt-shop-web-2 (INC-123) live: deployments.apps/web in namespace shop,
# undoing its 1 change, newest first.
set -eu
kubectl patch -n shop deployments.apps/web --type=json -p '[{"op":"replace","path":"/spec/replicas","value":3}]'
# Then record the decision:
#   driftgate tickets resolve bt-shop-web-2 --decision revert --ref <where> --by <you>
