#!/bin/sh
# Reverts backport ticket bt-shop-db-creds-2 (INC-123) live: secrets/db-creds in namespace shop,
# undoing its 1 change, newest first.
set -eu
kubectl patch -n shop secrets/db-creds --type=json -p '[{"op":"remove","path":"/metadata/labels"}]'
# Then record the decision:
#   driftgate tickets resolve bt-shop-db-creds-2 --decision revert --ref <where> --by <you>
