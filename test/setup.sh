#!/usr/bin/env bash
# What `npm test` needs beyond npm packages, set up once on a fresh machine and reused after:
#  - the real control plane for test/e2e (kube-apiserver, kube-controller-manager, etcd, kubectl built
#    from the Kubernetes Go modules into .cache/; a cold build takes 15-25 minutes on 2 cores,
#    seconds afterwards);
#  - helm, built from its Go module (test/helm) for the chart tests (`helm lint`, `helm template`):
#    a few minutes cold, built in the background while the control plane builds;
#  - celcheck, the apiserver's own match-condition evaluator (test/celcheck), which the
#    differential test of the rendered CEL runs (seconds once the control plane is built);
#  - Debian's headless Chromium, which renders the HTML security report in its test;
#  - Debian's HAProxy, the load balancer in front of driftgate's replicas in test/e2e/replicas.test.ts.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "test/setup.sh: installing Debian's chromium (for the HTML report test)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null || {
      apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
    }
  else
    echo "test/setup.sh: chromium is missing; install it (Debian: apt-get install chromium) for the HTML report test" >&2
  fi
fi

if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "test/setup.sh: installing Debian's haproxy (the load balancer in front of driftgate's replicas in test/e2e/replicas.test.ts)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy >/dev/null || {
      apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy >/dev/null
    }
  else
    echo "test/setup.sh: haproxy is missing; install it (Debian: apt-get install haproxy) for the replica test (test/e2e/replicas.test.ts)" >&2
  fi
fi

echo "test/setup.sh: building (or reusing) helm for the chart tests, in the background" >&2
mkdir -p .cache
bash test/helm/build.sh >.cache/helm-build.log 2>&1 &
helm_build=$!

echo "test/setup.sh: building (or reusing) the control plane for the end-to-end tests" >&2
bash test/harness/build.sh >/dev/null

if ! wait "$helm_build"; then
  echo "test/setup.sh: building helm failed:" >&2
  cat .cache/helm-build.log >&2
  exit 1
fi
echo "test/setup.sh: building (or reusing) celcheck for the differential test of the rendered CEL" >&2
bash test/celcheck/build.sh >/dev/null
