#!/usr/bin/env bash
# Serving certificate for clusters without cert-manager: makes (or keeps) a CA and a serving certificate for the
# webhook Service's DNS names, then either installs them in the cluster or writes a kustomize overlay that does.
#
#   certs/install.sh                     # after `kubectl apply -k manifests/`: create/update the Secret
#                                        # ecr-tenant-webhook-tls and fill in caBundle in the webhook configuration
#   certs/install.sh --write DIR         # touch no cluster: write DIR/kustomization.yaml (the base + the Secret +
#                                        # a caBundle patch), then `kubectl apply -k DIR`
#
# Options: --out DIR (where keys and certificates are kept, default certs/out; keep it private: it holds the CA key),
# --namespace NS and --service NAME (default ecr-tenant-webhook), --webhook NAME (the Mutating- and
# ValidatingWebhookConfiguration, default ecr-tenant-webhook). KUBECTL names the kubectl binary; KUBECONFIG is honoured as kubectl does.
# Re-running renews the serving certificate and keeps the CA, so caBundle stays the same.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/out" namespace=ecr-tenant-webhook service=ecr-tenant-webhook webhook=ecr-tenant-webhook write=""
kubectl="${KUBECTL:-kubectl}"
secret=ecr-tenant-webhook-tls

die() { echo "install.sh: $*" >&2; exit 2; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found; $2"; }
b64() { base64 <"$1" | tr -d '\n'; }

# The relative path from directory $1 to directory $2: kustomize refuses absolute resource paths, and GNU
# realpath --relative-to is missing on macOS.
relative_path() {
  local from to common up=""
  from="$(cd "$1" && pwd -P)" to="$(cd "$2" && pwd -P)" common="$from"
  while [[ "$to" != "$common" && "$to" != "$common/"* ]]; do common="${common%/*}" up="../$up"; done
  local rest="${to#"$common"}"
  rest="${rest#/}"
  if [[ -z "$rest" ]]; then rest="${up%/}"; else rest="$up$rest"; fi
  echo "${rest:-.}"
}

parse_args() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --out) out="${2:?--out needs a directory}"; shift 2 ;;
      --namespace) namespace="${2:?--namespace needs a name}"; shift 2 ;;
      --service) service="${2:?--service needs a name}"; shift 2 ;;
      --webhook) webhook="${2:?--webhook needs a name}"; shift 2 ;;
      --write) write="${2:?--write needs a directory}"; shift 2 ;;
      -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
      *) die "unknown argument: $1 (see --help)" ;;
    esac
  done
}

# Everything the live install needs from the cluster, checked before any key is made.
check_cluster() {
  need "$kubectl" "install kubectl or set KUBECTL to its path"
  exists mutatingwebhookconfiguration "$webhook" ||
    die "MutatingWebhookConfiguration $webhook not found; apply the manifests first (kubectl apply -k manifests/)"
  exists namespace "$namespace" || die "namespace $namespace not found; apply the manifests first (kubectl apply -k manifests/)"
}

# Whether a cluster-scoped object exists; dies when the cluster cannot answer, so "not found" is never a guess.
exists() {
  local found errors
  errors="$(mktemp)"
  if ! found="$("$kubectl" get "$1" "$2" --ignore-not-found -o name 2>"$errors")"; then
    local message
    message="$(tr '\n' ' ' <"$errors")"
    rm -f "$errors"
    die "cannot read $1 $2 (is the cluster reachable with KUBECONFIG=${KUBECONFIG:-~/.kube/config}?): ${message% }"
  fi
  rm -f "$errors"
  [[ -n "$found" ]]
}

secret_manifest() {
  cat <<EOF
apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata:
  name: $secret
  namespace: $namespace
  labels:
    app.kubernetes.io/name: ecr-tenant-webhook
    app.kubernetes.io/part-of: ecr-tenant-webhook
data:
  tls.crt: $(b64 "$out/tls.crt")
  tls.key: $(b64 "$out/tls.key")
  ca.crt: $(b64 "$out/ca.crt")
EOF
}

# Sets caBundle on every webhook of one configuration ($1: mutating or validating); echoes how many.
set_ca_bundle() {
  local resource="${1}webhookconfiguration" names patch="" i=0 ca_bundle
  ca_bundle="$(b64 "$out/ca.crt")"
  names="$("$kubectl" get "$resource" "$webhook" -o jsonpath='{range .webhooks[*]}{.name}{"\n"}{end}')"
  while IFS= read -r name; do
    [[ -n "$name" ]] || continue
    patch+="${patch:+,}{\"op\":\"add\",\"path\":\"/webhooks/$i/clientConfig/caBundle\",\"value\":\"$ca_bundle\"}"
    i=$((i + 1))
  done <<<"$names"
  [[ $i -gt 0 ]] || die "$resource $webhook has no webhooks to set caBundle on"
  "$kubectl" patch "$resource" "$webhook" --type=json -p "[$patch]" >&2
  echo "$i"
}

install_live() {
  # Server-side apply: unlike client-side apply it keeps no copy of the private key in an annotation.
  secret_manifest | "$kubectl" apply --server-side --force-conflicts --field-manager=ecr-tenant-webhook-install -f - >&2
  local mutating validating=0
  mutating="$(set_ca_bundle mutating)"
  # Installs older than the namespace-label guard have no validating configuration.
  if exists validatingwebhookconfiguration "$webhook"; then validating="$(set_ca_bundle validating)"; fi
  echo "install.sh: Secret $namespace/$secret written and caBundle set on $((mutating + validating)) webhook(s) of $webhook" >&2
}

write_overlay() {
  mkdir -p "$write"
  local base
  base="$(relative_path "$write" "$here/../manifests/base")"
  (umask 077 && cp "$out/tls.key" "$write/")
  cp "$out/tls.crt" "$out/ca.crt" "$write/"
  cat >"$write/kustomization.yaml" <<EOF
# Written by certs/install.sh: the ecr-tenant-webhook base with its serving certificate and caBundle.
# tls.key here is the webhook's private key: keep this directory out of version control unless it is encrypted.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: $namespace
resources:
  - $base
secretGenerator:
  - name: $secret
    type: kubernetes.io/tls
    files: [tls.crt, tls.key, ca.crt]
    options:
      disableNameSuffixHash: true
      labels:
        app.kubernetes.io/name: ecr-tenant-webhook
        app.kubernetes.io/part-of: ecr-tenant-webhook
patches:
  - target:
      group: admissionregistration.k8s.io
      kind: MutatingWebhookConfiguration
      name: $webhook
    patch: |-
      - op: add
        path: /webhooks/0/clientConfig/caBundle
        value: $(b64 "$out/ca.crt")
  - target:
      group: admissionregistration.k8s.io
      kind: ValidatingWebhookConfiguration
      name: $webhook
    patch: |-
      - op: add
        path: /webhooks/0/clientConfig/caBundle
        value: $(b64 "$out/ca.crt")
      - op: add
        path: /webhooks/1/clientConfig/caBundle
        value: $(b64 "$out/ca.crt")
# The namespace above moves metadata.namespace only; these carry it into the references kustomize leaves alone.
replacements:
  - source: { kind: Service, name: ecr-tenant-webhook, fieldPath: metadata.namespace }
    targets:
      - select: { kind: ClusterRoleBinding, name: ecr-tenant-webhook }
        fieldPaths: ["subjects.[name=ecr-tenant-webhook].namespace"]
      - select: { kind: RoleBinding, name: ecr-tenant-webhook-refresher-lease }
        fieldPaths: ["subjects.[name=ecr-tenant-webhook].namespace"]
      - select: { kind: MutatingWebhookConfiguration, name: $webhook }
        fieldPaths:
          - webhooks.*.clientConfig.service.namespace
          - webhooks.*.namespaceSelector.matchExpressions.[key=kubernetes.io/metadata.name].values.0
      - select: { kind: ValidatingWebhookConfiguration, name: $webhook }
        fieldPaths:
          - webhooks.*.clientConfig.service.namespace
          - webhooks.[name=workloads.ecr-tenant-webhook.io].namespaceSelector.matchExpressions.[key=kubernetes.io/metadata.name].values.0
EOF
  echo "install.sh: wrote $write/kustomization.yaml (with the private key $write/tls.key); apply it with: kubectl apply -k $write" >&2
}

parse_args "$@"
need openssl "install OpenSSL to make the CA and the serving certificate"
[[ -n "$write" ]] || check_cluster
bash "$here/make-certs.sh" "$out" "$service" "$namespace"
if [[ -n "$write" ]]; then write_overlay; else install_live; fi
