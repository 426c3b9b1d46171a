#!/bin/sh
# Reverts backport ticket bt-shop-db-creds-3 (INC-123) live: secrets/db-creds in namespace shop,
# undoing its 1 change, newest first.
set -eu
kubectl delete -n shop secrets/db-creds
# Then record the decision:
#   driftgate tickets resolve bt-shop-db-creds-3 --decision revert --ref <where> --by <you>
