//go:build tools

// Package tools keeps the control-plane binaries' packages in go.mod/go.sum so that
// build.sh can build them with `go build` at the pinned versions.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
