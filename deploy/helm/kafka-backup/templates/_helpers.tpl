{{/* Names and labels shared by every template. */}}

{{- define "kafka-backup.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kafka-backup.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kafka-backup.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kafka-backup.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "kafka-backup.labels" -}}
{{ include "kafka-backup.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "kafka-backup.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kafka-backup.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kafka-backup.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
What the operator does in the namespaces it watches, and nothing more: its own resources (read;
status written; finalizers for owner references to them), the run Jobs (create, delete), their
Pods (read; logs when rbac.podLogs), the rendered run configs (ConfigMaps), Secrets read for
credential and Strimzi lookups (never written), Events for every step, and Strimzi's Kafka and
KafkaUser resources read when rbac.strimzi.
*/}}
{{- define "kafka-backup.rules" -}}
- apiGroups: [kafkabackup.io]
  resources: [kafkabackups, kafkarestores, kafkaoffsetresets, kafkaoffsetrollbacks]
  verbs: [get, list, watch]
- apiGroups: [kafkabackup.io]
  resources: [kafkabackups/status, kafkarestores/status, kafkaoffsetresets/status, kafkaoffsetrollbacks/status]
  verbs: [get, patch, update]
- apiGroups: [kafkabackup.io]
  resources: [kafkabackups/finalizers, kafkarestores/finalizers, kafkaoffsetresets/finalizers, kafkaoffsetrollbacks/finalizers]
  verbs: [update]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
{{- if .Values.rbac.podLogs }}
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
{{- end }}
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, create, update, delete]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- if .Values.rbac.strimzi }}
- apiGroups: [kafka.strimzi.io]
  resources: [kafkas, kafkausers]
  verbs: [get]
{{- end }}
{{- end -}}
