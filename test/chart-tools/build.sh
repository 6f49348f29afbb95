#!/usr/bin/env bash
# Builds helm and promtool from Go modules for the chart, alert and dashboard
# tests, cached outside the repository like the control plane, and prints the
# directory holding them.
#
#   dir="$(bash test/chart-tools/build.sh)"   # -> $dir/helm, $dir/promtool
#
# Versions come from go.mod in this folder. Output goes to
#   ${ECR_TENANT_WEBHOOK_CACHE:-$HOME/.cache/ecr-tenant-webhook}/chart-tools/helm-<v>-promtool-<v>/
# A binary that is there and reports its version is not built again; a missing
# one is built alone. Progress and timings go to stderr, only the directory to
# stdout. Needs: go (the version in go.mod or newer), the Go module proxy.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tag=chart-tools
# shellcheck source=../support/go-build.sh
source "$here/../support/go-build.sh"

helm_version="$(req helm.sh/helm/v4)"                        # e.g. v4.3.2
prometheus_version="$(req github.com/prometheus/prometheus)" # e.g. v0.316.0
[ -n "$helm_version" ] && [ -n "$prometheus_version" ] || { log "cannot read versions from $here/go.mod"; exit 1; }

cache_root="${ECR_TENANT_WEBHOOK_CACHE:-$HOME/.cache/ecr-tenant-webhook}"
out="$cache_root/chart-tools/helm-${helm_version}-promtool-${prometheus_version}"

ok_helm() { ok helm "$helm_version" version --short; }
ok_promtool() { ok promtool "version $prometheus_version " --version; }

if ok_helm && ok_promtool; then
  log "cached: $out"
  echo "$out"
  exit 0
fi

start_build

total_start=$(date +%s)
if ok_helm; then
  log "helm already built"
else
  build helm helm.sh/helm/v4/cmd/helm "-s -w -X helm.sh/helm/v4/internal/version.version=$helm_version -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
  ok_helm || { log "helm version --short does not report $helm_version"; exit 1; }
fi
if ok_promtool; then
  log "promtool already built"
else
  # The module version is stamped as the version, so the cache check reads exactly what go.mod names.
  build promtool github.com/prometheus/prometheus/cmd/promtool "-s -w -X github.com/prometheus/common/version.Version=$prometheus_version -X github.com/prometheus/common/version.Branch=module"
  ok_promtool || { log "promtool --version does not report $prometheus_version"; exit 1; }
fi
log "done in $(($(date +%s) - total_start))s: $out"
echo "$out"
