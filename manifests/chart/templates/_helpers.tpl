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
The serving certificate made by the chart (certificates.source self-signed), as {ca, crt, key} in base64: the one
already in the cluster when there is one, so an upgrade never changes what the API server trusts; else a new CA
and certificate.
*/}}
{{- define "etw.selfSigned" -}}
{{- $name := include "etw.tlsSecret" . -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $name -}}
{{- if and $existing (index ($existing.data | default dict) "ca.crt") -}}
{{- dict "ca" (index $existing.data "ca.crt") "crt" (index $existing.data "tls.crt") "key" (index $existing.data "tls.key") | toJson -}}
{{- else -}}
{{- $ca := genCA (printf "%s CA" (include "etw.fullname" .)) 3650 -}}
{{- $names := concat (include "etw.serviceNames" . | fromJsonArray) .Values.certificates.selfSigned.dnsNames -}}
{{- $cert := genSignedCert (include "etw.fullname" .) .Values.certificates.selfSigned.ipAddresses $names 3650 $ca -}}
{{- dict "ca" ($ca.Cert | b64enc) "crt" ($cert.Cert | b64enc) "key" ($cert.Key | b64enc) | toJson -}}
{{- end -}}
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
