#!/bin/sh
# Reverts backport ticket bt-shop-web-1 (INC-123) live: deployments.apps/web in namespace shop,
# undoing its 3 changes, newest first.
set -eu
kubectl patch -n shop deployments.apps/web --type=json -p '[{"op":"add","path":"/spec/template/spec/containers/0/env/1","value":{"name":"DEBUG","value":"false"}},{"op":"replace","path":"/spec/replicas","value":3},{"op":"add","path":"/metadata/annotations/example.com~1owner","value":"it'\''s ops"},{"op":"remove","path":"/metadata/labels/hotfix"},{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"registry.example.com/checkout:v1.2.3"},{"op":"replace","path":"/spec/template/spec/containers/0/resources/limits/memory","value":"512Mi"}]'
# Then record the decision:
#   driftgate tickets resolve bt-shop-web-1 --decision revert --ref <where> --by <you>
