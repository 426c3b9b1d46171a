//go:build tools

// Package tools pins the helm CLI that the chart tests run (`helm lint`, `helm template`).
package tools

import _ "helm.sh/helm/v4/cmd/helm"
