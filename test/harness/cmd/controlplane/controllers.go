package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"
)

// startControllerManager starts kube-controller-manager the way a real cluster runs it: every
// controller acts as its own ServiceAccount (--use-service-account-credentials), so the webhook
// sees e.g. system:serviceaccount:kube-system:generic-garbage-collector, not one shared user.
// It is ready when the service-account controller and the root-ca-cert-publisher have done their
// first work in kube-system: the `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap.
func (cp *controlPlane) startControllerManager(ctx context.Context, deadline time.Time, hc *http.Client, bin string) error {
	inf := &cp.info
	args := []string{
		"--kubeconfig=" + inf.Kubeconfig,
		"--authentication-kubeconfig=" + inf.Kubeconfig,
		"--authorization-kubeconfig=" + inf.Kubeconfig,
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + inf.ServiceAccountKey,
		"--root-ca-file=" + inf.CACert,
		"--cluster-signing-cert-file=" + inf.ClientCACert,
		"--cluster-signing-key-file=" + inf.ClientCAKey,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--controllers=*",
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		// Tests create and delete namespaces constantly: sync them as fast as a busy cluster would.
		"--concurrent-namespace-syncs=4",
		"--concurrent-gc-syncs=10",
	}
	args = append(args, cp.kcmArgs...)
	var err error
	if cp.kcm, err = startProc("kube-controller-manager", bin, args, inf.Logs["kubeControllerManager"]); err != nil {
		return err
	}
	inf.KubeControllerManager = bin
	return poll(ctx, deadline, cp.kcm, func() (bool, string) {
		var missing []string
		for _, path := range []string{"/api/v1/namespaces/kube-system/serviceaccounts/default", "/api/v1/namespaces/kube-system/configmaps/kube-root-ca.crt"} {
			resp, err := hc.Get(inf.Server + path)
			if err != nil {
				return false, err.Error()
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				missing = append(missing, fmt.Sprintf("%s: HTTP %d", filepath.Base(path), resp.StatusCode))
			}
		}
		return len(missing) == 0, "waiting for " + strings.Join(missing, ", ")
	})
}
