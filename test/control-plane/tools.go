//go:build tools

// Package tools only exists so that `go mod tidy` keeps the requirements of
// the main packages build.sh compiles. It is never built.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
