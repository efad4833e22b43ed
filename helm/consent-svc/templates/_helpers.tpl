{{- define "consent-svc.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "consent-svc.fullname" -}}
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

{{- define "consent-svc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "consent-svc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "consent-svc.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "consent-svc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "consent-svc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "consent-svc.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "consent-svc.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* The secret environment: references only, never values. Called with (dict "root" $ "migration" bool):
the migration Job reads its database url from secrets.keys.migrationDatabaseUrl when that is set (the
role that owns the schema; docs/examples/roles.sql), the pods always from secrets.keys.databaseUrl. */}}
{{- define "consent-svc.secretEnv" -}}
{{- $migration := .migration }}
{{- with .root }}
{{- $secret := required "secrets.existingSecret must name a Secret holding the database url, pepper and token keys" .Values.secrets.existingSecret }}
- name: CONSENT_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ ternary (.Values.secrets.keys.migrationDatabaseUrl | default .Values.secrets.keys.databaseUrl) .Values.secrets.keys.databaseUrl $migration }}
- name: CONSENT_PEPPER
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ .Values.secrets.keys.pepper }}
- name: CONSENT_TOKEN_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ .Values.secrets.keys.tokenKeys }}
- name: CONSENT_ENCRYPTION_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ .Values.secrets.keys.encryptionKeys }}
      optional: true
{{- if not $migration }}
- name: CONSENT_SMTP_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ .Values.secrets.keys.smtpUrl }}
      optional: true
{{- end }}
{{- end }}
{{- end }}

{{- define "consent-svc.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "consent-svc.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
{{- end }}
