{{/* Names: the usual Helm conventions, truncated to the 63 characters DNS labels allow. */}}
{{- define "sguardo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sguardo.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sguardo.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "sguardo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sguardo
{{- end }}

{{- define "sguardo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sguardo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The service's pods; Triton and the retraining job get their own component label. */}}
{{- define "sguardo.serverSelectorLabels" -}}
{{ include "sguardo.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "sguardo.tritonSelectorLabels" -}}
{{ include "sguardo.selectorLabels" . }}
app.kubernetes.io/component: triton
{{- end }}

{{- define "sguardo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sguardo.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* image: repository:tag, or repository:tag@digest when a digest pins it. */}}
{{- define "sguardo.image" -}}
{{- $repository := ternary .Values.image.gpuRepository .Values.image.repository .Values.gpu.enabled }}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" $repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository $tag }}
{{- end }}
{{- end }}

{{- define "sguardo.trainImage" -}}
{{- printf "%s:%s" .Values.retraining.image.repository (default .Chart.AppVersion .Values.retraining.image.tag) }}
{{- end }}

{{- define "sguardo.secretName" -}}
{{- default (include "sguardo.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "sguardo.bundleClaim" -}}
{{- default (printf "%s-models" (include "sguardo.fullname" .)) .Values.bundle.persistence.existingClaim }}
{{- end }}

{{- define "sguardo.originalsClaim" -}}
{{- default (printf "%s-originals" (include "sguardo.fullname" .)) .Values.originals.persistence.existingClaim }}
{{- end }}

{{/* The subchart's Service name, computed as the Qdrant chart computes its fullname. */}}
{{- define "sguardo.qdrantHost" -}}
{{- if .Values.qdrant.fullnameOverride }}
{{- .Values.qdrant.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains "qdrant" .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-qdrant" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "sguardo.storeKind" -}}
{{- if or .Values.qdrant.enabled .Values.externalQdrant.url }}qdrant{{ else }}embedded{{ end }}
{{- end }}

{{- define "sguardo.qdrantUrl" -}}
{{- if .Values.qdrant.enabled }}
{{- printf "http://%s:6333" (include "sguardo.qdrantHost" .) }}
{{- else }}
{{- .Values.externalQdrant.url }}
{{- end }}
{{- end }}

{{- define "sguardo.tritonUrl" -}}
{{- printf "%s-triton:%s" (include "sguardo.fullname" .) (ternary "8001" "8000" (eq .Values.settings.triton_protocol "grpc")) }}
{{- end }}

{{/*
Rules that span several values, which values.schema.json cannot say clearly; `fail` stops
install, upgrade and template alike with the message.
*/}}
{{- define "sguardo.validate" -}}
{{- $embedded := eq (include "sguardo.storeKind" .) "embedded" }}
{{- range $what, $tag := dict "image.tag" .Values.image.tag "triton.image.tag" .Values.triton.image.tag "retraining.image.tag" .Values.retraining.image.tag }}
{{- if eq $tag "latest" }}
{{- fail (printf "%s \"latest\" is refused: pin a version, so that a rollout or a rollback runs a known image" $what) }}
{{- end }}
{{- end }}
{{- if and .Values.qdrant.enabled .Values.externalQdrant.url }}
{{- fail "qdrant.enabled and externalQdrant.url are both set: choose the in-release Qdrant or an external one" }}
{{- end }}
{{- if and $embedded (or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled) }}
{{- fail "the embedded vector store admits one process: with replicaCount > 1 or autoscaling.enabled, set qdrant.enabled=true or externalQdrant.url" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas is greater than autoscaling.maxReplicas" }}
{{- end }}
{{- if not (hasPrefix (printf "%s/" (trimSuffix "/" .Values.bundle.mountPath)) .Values.bundle.path) }}
{{- fail (printf "bundle.path (%s) must be a directory under bundle.mountPath (%s)" .Values.bundle.path .Values.bundle.mountPath) }}
{{- end }}
{{- if and .Values.networkPolicy.enabled .Values.externalQdrant.url (not .Values.networkPolicy.externalQdrantEgress) }}
{{- fail "networkPolicy.enabled blocks egress to externalQdrant.url: set networkPolicy.externalQdrantEgress (e.g. an ipBlock of the Qdrant cluster) or networkPolicy.enabled=false" }}
{{- end }}
{{- if and .Values.retraining.enabled $embedded (eq .Values.retraining.storeMode "direct") }}
{{- fail "retraining.storeMode direct reindexes into a new collection while the service runs: it needs a Qdrant server (qdrant.enabled or externalQdrant.url), not the embedded store (which admits one process); or set retraining.storeMode=service" }}
{{- end }}
{{- if and .Values.retraining.enabled (not .Values.bundle.persistence.existingClaim) (not (has "ReadWriteMany" .Values.bundle.persistence.accessModes)) }}
{{- fail "retraining.enabled writes new bundles into the models claim: add ReadWriteMany to bundle.persistence.accessModes (the service still mounts it read-only), or name an existingClaim" }}
{{- end }}
{{- $o := .Values.originals.persistence }}
{{- if and .Values.retraining.enabled (not $o.enabled) }}
{{- fail "retraining.enabled re-embeds the kept originals: set originals.persistence.enabled=true" }}
{{- end }}
{{- $jobReads := and .Values.retraining.enabled (eq .Values.retraining.storeMode "direct") }}
{{- $shared := or $jobReads (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled }}
{{- if and $o.enabled (not $o.existingClaim) $shared (not (has "ReadWriteMany" $o.accessModes)) }}
{{- fail "the originals claim is shared (several replicas write it, or the retraining job reads it): add ReadWriteMany to originals.persistence.accessModes, or name an existingClaim" }}
{{- end }}
{{- end }}

{{/*
A setting as an environment variable's text: Helm reads every YAML number as float64, which
prints 10000000 as 1e+07 (which the service's int fields refuse); whole numbers print whole.
*/}}
{{- define "sguardo.settingValue" -}}
{{- if and (kindIs "float64" .) (eq . (float64 (int64 .))) }}{{ int64 . }}
{{- else if or (kindIs "slice" .) (kindIs "map" .) }}{{ toJson . }}
{{- else }}{{ . }}
{{- end }}
{{- end }}
