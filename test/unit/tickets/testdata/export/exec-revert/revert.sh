#!/bin/sh
# Reverts backport ticket bt-shop-web-3 (INC-123) live: pods/web-7d9c in namespace shop,
# undoing its 1 change, newest first.
set -eu
# nothing to revert: its changes set no fields (an action such as exec, or nothing after normalization)
# Then record the decision:
#   driftgate tickets resolve bt-shop-web-3 --decision revert --ref <where> --by <you>
