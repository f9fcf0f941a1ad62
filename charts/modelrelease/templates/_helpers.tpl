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

{{/*
The operator's rules for the custom resources and what it makes of them, as
manifests/rbac.yaml's ClusterRole has them: cluster-wide in the ClusterRole, or in a Role
in each of watchNamespaces (manifests/namespaced/namespace-rbac/role.yaml).
*/}}
{{- define "modelrelease.operatorRules" -}}
# The custom resources: read, and write their status.
- apiGroups: [modelrelease.dev]
  resources: [modeltrainings, modelreleases]
  verbs: [get, list, watch]
- apiGroups: [modelrelease.dev]
  resources: [modeltrainings/status, modelreleases/status]
  verbs: [get, patch]
# spec.retraining creates new ModelTrainings (never edits or deletes one).
- apiGroups: [modelrelease.dev]
  resources: [modeltrainings]
  verbs: [create]
# Owner references with blockOwnerDeletion need update on the owner's finalizers.
- apiGroups: [modelrelease.dev]
  resources: [modeltrainings/finalizers, modelreleases/finalizers]
  verbs: [update]
# Training Jobs and their pods.
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
# Events on the resources.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
# ModelRelease: the command annotation is removed once acted on.
- apiGroups: [modelrelease.dev]
  resources: [modelreleases]
  verbs: [patch]
# ModelRelease: one Deployment per model version, the Service(s) in front of them.
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch, create, patch, delete]
# ModelRelease, scrape provider: each serving pod's /metrics through the pod proxy.
- apiGroups: [""]
  resources: [pods/proxy]
  verbs: [get]
# ModelRelease, gateway-api router: the HTTPRoute that splits traffic by weight.
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, list, create, patch, delete]
{{- end -}}
