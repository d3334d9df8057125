{{/* Names and labels. */}}
{{- define "lockstep.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "lockstep.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "lockstep.labels" -}}
{{ include "lockstep.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: lockstep
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "lockstep.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "lockstep.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "lockstep.image" -}}
{{- if not .Values.image.repository -}}
{{- fail "image.repository is required: no Lockstep image is published yet; build one and push it to your registry" -}}
{{- end -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The platforms of the configuration's flows, sorted (services/app/launcher.ts flowPlatforms). */}}
{{- define "lockstep.platforms" -}}
{{- $p := list -}}
{{- range (.Values.config.flows | default list) -}}
{{- range (.sides | default list) -}}
{{- $p = append $p .platform -}}
{{- end -}}
{{- end -}}
{{- $p | uniq | sortAlpha | toJson -}}
{{- end -}}

{{/* Ports as services/app/config.ts computes them: egress takes port + index of its platform. */}}
{{- define "lockstep.ingestPort" -}}
{{- (.Values.config.ingest | default dict).port | default 7070 -}}
{{- end -}}
{{- define "lockstep.reconcilerPort" -}}
{{- (.Values.config.reconciler | default dict).port | default 7071 -}}
{{- end -}}
{{- define "lockstep.egressPort" -}}
{{- $base := (.root.Values.config.egress | default dict).port | default 7072 | int -}}
{{- $order := dict "linear" 0 "jira" 1 "asana" 2 "slack" 3 -}}
{{- add $base (get $order .platform | default 0) -}}
{{- end -}}

{{/* The Kafka settings KEDA needs, with the services' defaults. */}}
{{- define "lockstep.kafka" -}}
{{- $k := .Values.config.kafka | default dict -}}
{{- $t := $k.topics | default dict -}}
{{- dict "brokers" (join "," ($k.brokers | default (list "127.0.0.1:9092"))) "clientId" ($k.clientId | default "lockstep") "changes" ($t.changes | default "lockstep.changes.v1") "outcomes" ($t.outcomes | default "lockstep.outcomes.v1") "commandsPrefix" ($t.commandsPrefix | default "lockstep.commands.") | toJson -}}
{{- end -}}

{{/* The services: name, args, port, and whether it consumes (KEDA). */}}
{{- define "lockstep.services" -}}
{{- $out := list (dict "name" "ingest" "args" (list "ingest") "port" (include "lockstep.ingestPort" . | int) "values" .Values.ingest) -}}
{{- $out = append $out (dict "name" "reconciler" "args" (list "reconciler") "port" (include "lockstep.reconcilerPort" . | int) "values" .Values.reconciler) -}}
{{- range (include "lockstep.platforms" . | fromJsonArray) -}}
{{- $out = append $out (dict "name" (printf "egress-%s" .) "platform" . "args" (list "egress" "--platform" .) "port" (include "lockstep.egressPort" (dict "root" $ "platform" .) | int) "values" $.Values.egress) -}}
{{- end -}}
{{- $out | toJson -}}
{{- end -}}

{{/* Environment of every Lockstep container. */}}
{{- define "lockstep.env" -}}
- name: LOCKSTEP_CONFIG
  value: /etc/lockstep/lockstep.yaml
- name: LOCKSTEP_HTTP_HOST
  value: 0.0.0.0
{{- if .Values.postgres.existingSecret.name }}
- name: LOCKSTEP_POSTGRES_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.postgres.existingSecret.name }}
      key: {{ .Values.postgres.existingSecret.key }}
{{- end }}
{{- range .Values.secretEnv }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .key }}
{{- end }}
{{- with .Values.env }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "lockstep.envFrom" -}}
{{- range .Values.envFromSecrets }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- end -}}

{{- define "lockstep.podCommon" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
automountServiceAccountToken: false
securityContext:
{{ toYaml .Values.podSecurityContext | indent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
{{ toYaml . | indent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
{{ toYaml . | indent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
{{ toYaml . | indent 2 }}
{{- end }}
{{- end -}}
