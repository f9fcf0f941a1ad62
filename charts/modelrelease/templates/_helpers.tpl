{{/*
The prefix of every object's name. Cluster-scoped objects (the ClusterRole and its
binding) must differ between releases, so names carry the release's name; a release
called `modelrelease` gets the kustomize install's names.
*/}}
{{- define "modelrelease.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 54 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 54 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 54 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The operator's Deployment, ServiceAccount, RBAC and metrics Service. */}}
{{- define "modelrelease.operatorName" -}}
{{- printf "%s-operator" (include "modelrelease.fullname" .) -}}
{{- end -}}

{{/*
What the Deployment selects its pods by, as in manifests/operator.yaml: the same
selector lets the chart take over a kustomize install's Deployment (a selector cannot
change), and the metrics Service and ServiceMonitor select by it too.
*/}}
{{- define "modelrelease.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* Labels every object of the release carries, beside its own. */}}
{{- define "modelrelease.helmLabels" -}}
app.kubernetes.io/part-of: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 }}
{{- end -}}

{{/* The operator's objects: its selector labels and the release's. */}}
{{- define "modelrelease.labels" -}}
{{ include "modelrelease.selectorLabels" . }}
{{ include "modelrelease.helmLabels" . }}
{{- end -}}

{{- define "modelrelease.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
