#!/bin/sh
# Reverts backport ticket bt-shop-flags-1 (INC-123) live: configmaps/flags in namespace shop,
# undoing its 2 changes, newest first.
set -eu
kubectl delete -n shop configmaps/flags
# Then record the decision:
#   driftgate tickets resolve bt-shop-flags-1 --decision revert --ref <where> --by <you>
