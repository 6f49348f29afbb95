#!/usr/bin/env bash
# Builds a real kube-apiserver, etcd and a kubectl of the same version from Go
# modules for the integration tests, cached outside the repository, and prints
# the directory holding them.
#
#   dir="$(bash test/control-plane/build.sh)"   # -> $dir/kube-apiserver, $dir/etcd, $dir/kubectl
#
# Versions come from go.mod in this folder (regenerate it with
# update-versions.sh). Output goes to
#   ${ECR_TENANT_WEBHOOK_CACHE:-$HOME/.cache/ecr-tenant-webhook}/control-plane/<k8s>-<etcd>/
# If all binaries are there and report the expected version, nothing is built;
# a missing one is built alone. A first build takes several minutes on 2 cores;
# progress and timings go to stderr, only the directory goes to stdout.
# Needs: go (the version in go.mod or newer), the Go module proxy.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tag=control-plane
# shellcheck source=../support/go-build.sh
source "$here/../support/go-build.sh"

k8s_version="$(req k8s.io/kubernetes)"        # e.g. v1.37.2
etcd_version="$(req go.etcd.io/etcd/server/v3)" # e.g. v3.7.0
[ -n "$k8s_version" ] && [ -n "$etcd_version" ] || { log "cannot read versions from $here/go.mod"; exit 1; }

cache_root="${ECR_TENANT_WEBHOOK_CACHE:-$HOME/.cache/ecr-tenant-webhook}"
out="$cache_root/control-plane/${k8s_version}-${etcd_version}"

ok_apiserver() { ok kube-apiserver "Kubernetes $k8s_version" --version; }
ok_etcd() { ok etcd "etcd Version: ${etcd_version#v}" --version; }
ok_kubectl() { ok kubectl "Client Version: $k8s_version" version --client; }

if ok_apiserver && ok_etcd && ok_kubectl; then
  log "cached: $out"
  echo "$out"
  exit 0
fi

start_build

total_start=$(date +%s)
go version >&2

# k8s_ldflags: stamps the release version into a Kubernetes binary, with the
# same variables as kubernetes' hack/lib/version.sh; buildDate is the release's
# publication time so the build is reproducible.
k8s_ldflags() {
  local minor build_date pkg ld="-s -w"
  minor="${k8s_version#v1.}"; minor="${minor%%.*}"
  build_date="$(go list -mod=readonly -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes 2>/dev/null || true)"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    [ -z "$build_date" ] || ld+=" -X $pkg.buildDate=$build_date"
  done
  echo "$ld"
}

if ok_apiserver; then
  log "kube-apiserver already built"
else
  build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$(k8s_ldflags)"
  ok_apiserver || { log "kube-apiserver --version does not report $k8s_version"; exit 1; }
fi

# kubectl from the same release, so the tests never depend on (or get skewed
# by) whatever kubectl the machine has.
if ok_kubectl; then
  log "kubectl already built"
else
  build kubectl k8s.io/kubernetes/cmd/kubectl "$(k8s_ldflags)"
  ok_kubectl || { log "kubectl version --client does not report $k8s_version"; exit 1; }
fi

if ok_etcd; then
  log "etcd already built"
else
  # etcd's version is a constant in go.etcd.io/etcd/api/v3/version; nothing to inject.
  build etcd go.etcd.io/etcd/server/v3 "-s -w"
  ok_etcd || { log "etcd --version does not report $etcd_version"; exit 1; }
fi

log "done in $(($(date +%s) - total_start))s: $out"
echo "$out"
