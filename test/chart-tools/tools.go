//go:build tools

// Package tools only exists so that `go mod tidy` keeps the requirements of
// the main packages build.sh compiles. It is never built.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/promtool"
	_ "helm.sh/helm/v4/cmd/helm"
)
