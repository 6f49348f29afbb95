#!/usr/bin/env bash
# Makes a private CA and a serving certificate for the webhook Service, for clusters without cert-manager.
#
#   certs/make-certs.sh [OUT_DIR] [SERVICE] [NAMESPACE] [EXTRA_SAN...]
#
# OUT_DIR gets ca.crt, ca.key, tls.crt and tls.key. The serving certificate names the Service's DNS names
# (SERVICE, SERVICE.NAMESPACE, SERVICE.NAMESPACE.svc, SERVICE.NAMESPACE.svc.cluster.local) and any extra
# SANs given (e.g. IP:127.0.0.1 or DNS:localhost for a local API server). EC P-256 keys, 1-year serving
# certificate, 10-year CA; re-running keeps an existing CA so caBundle does not change.
set -euo pipefail

out=${1:-certs/out}
service=${2:-ecr-tenant-webhook}
namespace=${3:-ecr-tenant-webhook}
shift $(( $# < 3 ? $# : 3 ))

command -v openssl >/dev/null || { echo "make-certs: openssl is needed" >&2; exit 2; }
mkdir -p "$out"
umask 077

if [[ ! -s "$out/ca.key" || ! -s "$out/ca.crt" ]]; then
  openssl ecparam -name prime256v1 -genkey -noout -out "$out/ca.key"
  openssl req -x509 -new -key "$out/ca.key" -sha256 -days 3650 -subj "/CN=ecr-tenant-webhook CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$out/ca.crt"
fi

sans="DNS:${service},DNS:${service}.${namespace},DNS:${service}.${namespace}.svc,DNS:${service}.${namespace}.svc.cluster.local"
for extra in "$@"; do sans="${sans},${extra}"; done

openssl ecparam -name prime256v1 -genkey -noout -out "$out/tls.key"
openssl req -new -key "$out/tls.key" -subj "/CN=${service}.${namespace}.svc" -out "$out/tls.csr"
openssl x509 -req -in "$out/tls.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial -sha256 -days 365 \
  -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n' "$sans") \
  -out "$out/tls.crt" 2>/dev/null
rm -f "$out/tls.csr" "$out/ca.srl"
chmod 644 "$out/ca.crt" "$out/tls.crt"
echo "make-certs: wrote $out/ca.crt and $out/tls.crt (SANs: $sans)" >&2
