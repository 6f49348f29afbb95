#!/usr/bin/env bash
# Serving certificate for clusters without cert-manager: makes (or keeps) a CA and a serving certificate for the
# webhook Service's DNS names, then either installs them in the cluster or writes a kustomize overlay that does.
#
#   certs/install.sh                     # after `kubectl apply -k manifests/`: create/replace the Secret
#                                        # ecr-tenant-webhook-tls and fill in caBundle in the webhook configuration
#   certs/install.sh --write DIR         # touch no cluster: write DIR/kustomization.yaml (the base + the Secret +
#                                        # caBundle), then `kubectl apply -k DIR`
#
# Options: --out DIR (where keys and certificates are kept, default certs/out; keep it private: it holds the CA key),
# --namespace NS and --service NAME (default ecr-tenant-webhook), --webhook NAME (the MutatingWebhookConfiguration,
# default ecr-tenant-webhook). KUBECTL names the kubectl binary; KUBECONFIG is honoured as kubectl does.
# Re-running renews the serving certificate and keeps the CA, so caBundle stays the same.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/out" namespace=ecr-tenant-webhook service=ecr-tenant-webhook webhook=ecr-tenant-webhook write=""
kubectl="${KUBECTL:-kubectl}"

die() { echo "install.sh: $*" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    --namespace) namespace="${2:?--namespace needs a name}"; shift 2 ;;
    --service) service="${2:?--service needs a name}"; shift 2 ;;
    --webhook) webhook="${2:?--webhook needs a name}"; shift 2 ;;
    --write) write="${2:?--write needs a directory}"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

bash "$here/make-certs.sh" "$out" "$service" "$namespace"
ca_bundle="$(base64 <"$out/ca.crt" | tr -d '\n')"

if [[ -n "$write" ]]; then
  mkdir -p "$write"
  base="$(realpath --relative-to="$write" "$here/../manifests/base")"
  cp "$out/tls.crt" "$out/tls.key" "$write/"
  cat >"$write/kustomization.yaml" <<EOF
# Written by certs/install.sh: the ecr-tenant-webhook base with its serving certificate and caBundle.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: $namespace
resources:
  - $base
secretGenerator:
  - name: ecr-tenant-webhook-tls
    type: kubernetes.io/tls
    files: [tls.crt, tls.key]
    options:
      disableNameSuffixHash: true
patches:
  - target:
      group: admissionregistration.k8s.io
      kind: MutatingWebhookConfiguration
      name: $webhook
    patch: |-
      - op: add
        path: /webhooks/0/clientConfig/caBundle
        value: $ca_bundle
EOF
  echo "install.sh: wrote $write/kustomization.yaml; apply it with: kubectl apply -k $write" >&2
  exit 0
fi

command -v "$kubectl" >/dev/null 2>&1 || die "kubectl not found (set KUBECTL to its path)"
names="$("$kubectl" get mutatingwebhookconfiguration "$webhook" -o jsonpath='{range .webhooks[*]}{.name}{"\n"}{end}' 2>&1)" ||
  die "MutatingWebhookConfiguration $webhook not found; apply the manifests first (kubectl apply -k manifests/): $names"

"$kubectl" -n "$namespace" create secret tls ecr-tenant-webhook-tls --cert="$out/tls.crt" --key="$out/tls.key" \
  --dry-run=client -o yaml | "$kubectl" apply -f - >&2

patch="" i=0
while IFS= read -r name; do
  [[ -n "$name" ]] || continue
  patch+="${patch:+,}{\"op\":\"add\",\"path\":\"/webhooks/$i/clientConfig/caBundle\",\"value\":\"$ca_bundle\"}"
  i=$((i + 1))
done <<<"$names"
"$kubectl" patch mutatingwebhookconfiguration "$webhook" --type=json -p "[$patch]" >&2
echo "install.sh: Secret $namespace/ecr-tenant-webhook-tls written and caBundle set on $i webhook(s) of $webhook" >&2
