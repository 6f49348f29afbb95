{{/* The name of every object: the release name when it holds the chart's name (the usual `helm install ecr-tenant-webhook`). */}}
{{- define "etw.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Selector labels: exactly those of manifests/base, since selectors are immutable (a kustomize install can be
adopted by the chart). */}}
{{- define "etw.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
{{- end -}}

{{- define "etw.labels" -}}
{{ include "etw.selectorLabels" . }}
app.kubernetes.io/part-of: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "etw.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "etw.policyConfigMap" -}}
{{- .Values.policy.existingConfigMap | default (printf "%s-policy" (include "etw.fullname" .)) -}}
{{- end -}}

{{- define "etw.tlsSecret" -}}
{{- if eq .Values.certificates.source "existing-secret" -}}
{{- required "certificates.existingSecret.name is required with certificates.source existing-secret" .Values.certificates.existingSecret.name -}}
{{- else -}}
{{- printf "%s-tls" (include "etw.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The DNS names the API server may dial the Service by. */}}
{{- define "etw.serviceNames" -}}
{{- $svc := include "etw.fullname" . -}}
{{- list $svc (printf "%s.%s" $svc .Release.Namespace) (printf "%s.%s.svc" $svc .Release.Namespace) (printf "%s.%s.svc.cluster.local" $svc .Release.Namespace) | toJson -}}
{{- end -}}

{{/*
The serving certificate made by the chart (certificates.source self-signed), as {ca, caKey, crt, key} in base64.
The CA is the one already in the cluster (Secret <fullname>-ca, never mounted into a pod) when there is one, so an
upgrade or rollback never changes what the API server trusts; else a new one (10 years). The serving certificate is
signed anew on every render, so it always carries the names the webhooks are called by (the Service's, and
certificates.extraDnsNames and extraIpAddresses when webhook.url points elsewhere); the pods reload it, and the
old one stays valid under the same CA meanwhile.
*/}}
{{- define "etw.selfSigned" -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (printf "%s-ca" (include "etw.fullname" .)) -}}
{{- $ca := "" -}}
{{- if and $existing (index ($existing.data | default dict) "tls.key") -}}
{{- $ca = buildCustomCert (index $existing.data "tls.crt") (index $existing.data "tls.key") -}}
{{- else -}}
{{- $ca = genCA (printf "%s CA" (include "etw.fullname" .)) 3650 -}}
{{- end -}}
{{- $names := concat (include "etw.serviceNames" . | fromJsonArray) .Values.certificates.extraDnsNames -}}
{{- $cert := genSignedCert (include "etw.fullname" .) .Values.certificates.extraIpAddresses $names 3650 $ca -}}
{{- dict "ca" ($ca.Cert | b64enc) "caKey" ($ca.Key | b64enc) "crt" ($cert.Cert | b64enc) "key" ($cert.Key | b64enc) | toJson -}}
{{- end -}}

{{/* One webhook's clientConfig: the Service, or webhook.url; caBundle unless cert-manager injects it. */}}
{{- define "etw.clientConfig" -}}
{{- $root := index . 0 -}}
{{- $path := index . 1 -}}
{{- $ca := index . 2 -}}
clientConfig:
  {{- if $root.Values.webhook.url }}
  url: {{ printf "%s%s" (trimSuffix "/" $root.Values.webhook.url) $path | quote }}
  {{- else }}
  service:
    name: {{ include "etw.fullname" $root }}
    namespace: {{ $root.Release.Namespace }}
    path: {{ $path }}
    port: 443
  {{- end }}
  {{- if $ca }}
  caBundle: {{ $ca }}
  {{- end }}
{{- end -}}

{{/* The namespaces no webhook is sent: the webhook's own, kube-system and webhook.excludeNamespaces. */}}
{{- define "etw.namespaceSelector" -}}
namespaceSelector:
  matchExpressions:
    - key: ecr-tenant-webhook.io/tenant
      operator: Exists
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: {{ concat (list .Release.Namespace "kube-system") .Values.webhook.excludeNamespaces | toJson }}
{{- end -}}
