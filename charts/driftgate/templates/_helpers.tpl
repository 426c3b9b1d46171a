{{/*
Every object is named "driftgate": the webhook configurations are cluster-wide singletons whose
name `driftgate serve` looks for (driftgate_webhook_configuration_present) and the RBAC grants by
name, so a cluster runs one driftgate, in the release's namespace.
*/}}

{{/* driftgate.labels: the labels of every object. */}}
{{- define "driftgate.labels" -}}
app.kubernetes.io/name: driftgate
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* driftgate.selector: what the Service, the PDB and the spread constraints select the pods by. */}}
{{- define "driftgate.selector" -}}
app.kubernetes.io/name: driftgate
{{- end }}

{{/* driftgate.image: repository:tag, or repository@digest when a digest is given. */}}
{{- define "driftgate.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{/* driftgate.policyText: the GuardPolicy served: policy.file, else the example policy. */}}
{{- define "driftgate.policyText" -}}
{{- if .Values.policy.file -}}
{{ .Values.policy.file }}
{{- else -}}
{{ .Files.Get "files/policy.yaml" }}
{{- end -}}
{{- end }}

{{/*
driftgate.checks: every refusal of a combination of values, with what to write instead. Included
by the Deployment so that `helm template` and `helm install` stop before rendering anything.
*/}}
{{- define "driftgate.checks" -}}
{{- $mode := .Values.certificates.mode -}}
{{- if not (has $mode (list "cert-manager" "provided" "self-managed")) -}}
{{- fail (printf "certificates.mode=%q is not one of cert-manager, provided, self-managed" $mode) -}}
{{- end -}}
{{- if and (eq $mode "self-managed") (not .Values.webhooks.managed) -}}
{{- fail "certificates.mode=self-managed needs webhooks.managed=true: driftgate's own CA is known only to driftgate, so driftgate must write the caBundle into the webhook configurations it keeps" -}}
{{- end -}}
{{- if and .Values.webhooks.managed (eq $mode "provided") -}}
{{- fail "webhooks.managed=true with certificates.mode=provided: use certificates.mode=self-managed (driftgate keeps the CA too) or cert-manager (cainjector fills in the caBundle), or webhooks.managed=false with your caBundle" -}}
{{- end -}}
{{- if and (eq $mode "provided") .Values.webhooks.create (not .Values.certificates.caBundle) -}}
{{- fail "certificates.mode=provided needs certificates.caBundle: the base64 of the CA that signed the serving certificate in certificates.secretName (`driftgate certs generate` prints it); or set webhooks.create=false and apply `driftgate manifests` yourself" -}}
{{- end -}}
{{- if not (has .Values.policy.source (list "configMap" "guardPolicy")) -}}
{{- fail (printf "policy.source=%q is not one of configMap (policy.file, read at start) or guardPolicy (GuardPolicy objects, taken live)" .Values.policy.source) -}}
{{- end -}}
{{- if not (has .Values.tickets.store (list "kubernetes" "journal")) -}}
{{- fail (printf "tickets.store=%q is not one of kubernetes, journal" .Values.tickets.store) -}}
{{- end -}}
{{- if eq .Values.tickets.store "journal" -}}
{{- if gt (int .Values.replicas) 1 -}}
{{- fail "tickets.store=journal keeps tickets on one replica's volume: with more than one replica use tickets.store=kubernetes (BackportTicket objects every replica shares), or set replicas=1" -}}
{{- end -}}
{{- if not .Values.tickets.journal.existingClaim -}}
{{- fail "tickets.store=journal needs tickets.journal.existingClaim, a PersistentVolumeClaim to keep the journal on: a ticket on a pod's own disk is lost with the pod" -}}
{{- end -}}
{{- end -}}
{{- $ca := .Values.callers.clientCA -}}
{{- if and (or $ca.configMap $ca.secret) (not .Values.callers.names) -}}
{{- fail "callers.clientCA needs callers.names: a cluster CA signs every user's certificate, so name the callers to accept (the CN or DNS SAN of the apiserver's client certificate)" -}}
{{- end -}}
{{- if and .Values.callers.names (not (or $ca.configMap $ca.secret)) -}}
{{- fail "callers.names needs callers.clientCA.configMap or callers.clientCA.secret: the CA that signs the callers' certificates" -}}
{{- end -}}
{{- if and .Values.networkPolicy.enabled (not .Values.networkPolicy.webhookFrom) -}}
{{- fail "networkPolicy.enabled needs networkPolicy.webhookFrom: where your kube-apiserver's webhook calls come from (an ipBlock of the control plane, or the konnectivity agents); a NetworkPolicy without it refuses the apiserver, and with failurePolicy Fail every guarded write" -}}
{{- end -}}
{{- if and .Values.podDisruptionBudget.enabled (gt (int .Values.replicas) 1) (ge (int .Values.podDisruptionBudget.minAvailable) (int .Values.replicas)) -}}
{{- fail (printf "podDisruptionBudget.minAvailable=%d with replicas=%d lets no pod be evicted, which blocks every node drain; use at most replicas-1" (int .Values.podDisruptionBudget.minAvailable) (int .Values.replicas)) -}}
{{- end -}}
{{- end }}

{{/*
driftgate.webhooks: the webhook entries `driftgate manifests --helm-values` rendered from the
policy (webhooks.rendered), or those of the example policy (files/webhooks.yaml). Refused when
they were rendered from another policy or for another namespace: the apiserver would then send
driftgate other writes than the policy guards.
*/}}
{{- define "driftgate.webhooks" -}}
{{- $rendered := .Values.webhooks.rendered -}}
{{- if not $rendered -}}
{{- $rendered = .Files.Get "files/webhooks.yaml" | fromYaml -}}
{{- end -}}
{{- $policy := include "driftgate.policyText" . -}}
{{- if ne (sha256sum $policy) $rendered.policySha256 -}}
{{- fail "webhooks.rendered was not rendered from policy.file: render both at once with `driftgate manifests --helm-values --policy POLICY --service NAMESPACE/driftgate > policy-values.yaml` and pass -f policy-values.yaml" -}}
{{- end -}}
{{- if or (ne $rendered.service.namespace .Release.Namespace) (ne $rendered.service.name "driftgate") -}}
{{- fail (printf "webhooks.rendered names the Service %s/%s, but this release installs %s/driftgate: render again with --service %s/driftgate" $rendered.service.namespace $rendered.service.name .Release.Namespace .Release.Namespace) -}}
{{- end -}}
{{- toYaml $rendered -}}
{{- end }}
