"""Decoding Kubernetes protobuf request bodies into the JSON the routes take.

``kubectl create deployment`` / ``create namespace`` / ``create service`` / ``run`` send
their body as ``application/vnd.kubernetes.protobuf`` and do not retry as JSON after a 415
(``kubectl expose`` sends JSON). The
kubernetes PyPI package ships no protobuf descriptors, so this holds a hand-written
table of the wire fields minik8s models (field numbers from k8s.io/api's
generated.proto) and a small decoder for the ``k8s\\x00`` + runtime.Unknown envelope.
Fields outside the table are skipped, as a JSON decoder drops fields it does not know.

Go writes every non-pointer field even when empty; JSON's ``omitempty`` would leave
those out, so zero scalars are dropped except for pointer fields (marked ``P``),
where presence itself carries meaning (``replicas: 0``).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

JSONDict = dict[str, Any]

# Field kinds: scalar names, or the name of a message in SCHEMA.
STRING, INT, BOOL, BYTES = "string", "int", "bool", "bytes"
TIME, MICROTIME, QUANTITY, INTSTR = "time", "microtime", "quantity", "intstr"
MAP_STRING, MAP_QUANTITY, MAP_BYTES = "map<string>", "map<quantity>", "map<bytes>"

R = "repeated"
P = "pointer"  # keep zero values: the field was set
INLINE = "inline"  # Go embedded struct: its fields sit in the parent's JSON object

Field = tuple[str, str] | tuple[str, str, str]
SCHEMA: dict[str, dict[int, Field]] = {
    "ObjectMeta": {
        1: ("name", STRING), 2: ("generateName", STRING), 3: ("namespace", STRING),
        5: ("uid", STRING), 6: ("resourceVersion", STRING), 7: ("generation", INT),
        8: ("creationTimestamp", TIME), 9: ("deletionTimestamp", TIME),
        10: ("deletionGracePeriodSeconds", INT, P), 11: ("labels", MAP_STRING),
        12: ("annotations", MAP_STRING), 13: ("ownerReferences", "OwnerReference", R),
        14: ("finalizers", STRING, R),
    },
    "OwnerReference": {
        5: ("apiVersion", STRING), 1: ("kind", STRING), 3: ("name", STRING),
        4: ("uid", STRING), 6: ("controller", BOOL, P), 7: ("blockOwnerDeletion", BOOL, P),
    },
    "LabelSelector": {1: ("matchLabels", MAP_STRING),
                      2: ("matchExpressions", "LabelSelectorRequirement", R)},
    "LabelSelectorRequirement": {1: ("key", STRING), 2: ("operator", STRING),
                                 3: ("values", STRING, R)},
    # authentication.k8s.io/v1 (kubectl auth whoami; TokenReview)
    "TokenReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "TokenReviewSpec")},
    "TokenReviewSpec": {1: ("token", STRING), 2: ("audiences", STRING, R)},
    "SelfSubjectReview": {1: ("metadata", "ObjectMeta")},
    # apps/v1
    "Deployment": {1: ("metadata", "ObjectMeta"), 2: ("spec", "DeploymentSpec")},
    "DeploymentSpec": {
        1: ("replicas", INT, P), 2: ("selector", "LabelSelector"),
        3: ("template", "PodTemplateSpec"), 4: ("strategy", "DeploymentStrategy"),
        5: ("minReadySeconds", INT), 6: ("revisionHistoryLimit", INT, P),
        7: ("paused", BOOL), 9: ("progressDeadlineSeconds", INT, P),
    },
    "DeploymentStrategy": {1: ("type", STRING), 2: ("rollingUpdate", "RollingUpdateDeployment")},
    "RollingUpdateDeployment": {1: ("maxUnavailable", INTSTR), 2: ("maxSurge", INTSTR)},
    "ReplicaSet": {1: ("metadata", "ObjectMeta"), 2: ("spec", "ReplicaSetSpec")},
    "ReplicaSetSpec": {1: ("replicas", INT, P), 4: ("minReadySeconds", INT),
                       2: ("selector", "LabelSelector"), 3: ("template", "PodTemplateSpec")},
    # batch/v1
    "Job": {1: ("metadata", "ObjectMeta"), 2: ("spec", "JobSpec")},
    "JobSpec": {
        1: ("parallelism", INT, P), 2: ("completions", INT, P),
        3: ("activeDeadlineSeconds", INT, P), 11: ("podFailurePolicy", "PodFailurePolicy"),
        16: ("successPolicy", "SuccessPolicy"), 7: ("backoffLimit", INT, P),
        12: ("backoffLimitPerIndex", INT, P), 13: ("maxFailedIndexes", INT, P),
        4: ("selector", "LabelSelector"), 5: ("manualSelector", BOOL, P),
        6: ("template", "PodTemplateSpec"), 8: ("ttlSecondsAfterFinished", INT, P),
        9: ("completionMode", STRING, P), 10: ("suspend", BOOL, P),
        14: ("podReplacementPolicy", STRING, P), 15: ("managedBy", STRING, P),
    },
    "PodFailurePolicy": {1: ("rules", "PodFailurePolicyRule", R)},
    "PodFailurePolicyRule": {
        1: ("action", STRING), 2: ("onExitCodes", "PodFailurePolicyOnExitCodesRequirement"),
        3: ("onPodConditions", "PodFailurePolicyOnPodConditionsPattern", R)},
    "PodFailurePolicyOnExitCodesRequirement": {1: ("containerName", STRING, P),
                                               2: ("operator", STRING), 3: ("values", INT, R)},
    "PodFailurePolicyOnPodConditionsPattern": {1: ("type", STRING), 2: ("status", STRING)},
    "SuccessPolicy": {1: ("rules", "SuccessPolicyRule", R)},
    "SuccessPolicyRule": {1: ("succeededIndexes", STRING, P), 2: ("succeededCount", INT, P)},
    "CronJob": {1: ("metadata", "ObjectMeta"), 2: ("spec", "CronJobSpec")},
    "CronJobSpec": {
        1: ("schedule", STRING), 8: ("timeZone", STRING, P),
        2: ("startingDeadlineSeconds", INT, P), 3: ("concurrencyPolicy", STRING),
        4: ("suspend", BOOL, P), 5: ("jobTemplate", "JobTemplateSpec"),
        6: ("successfulJobsHistoryLimit", INT, P), 7: ("failedJobsHistoryLimit", INT, P),
    },
    "JobTemplateSpec": {1: ("metadata", "ObjectMeta"), 2: ("spec", "JobSpec")},
    # autoscaling/v1
    "Scale": {1: ("metadata", "ObjectMeta"), 2: ("spec", "ScaleSpec")},
    "ScaleSpec": {1: ("replicas", INT, P)},
    # core/v1
    "Namespace": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", STRING, R)},
    "Node": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NodeSpec")},
    "NodeSpec": {1: ("podCIDR", STRING), 7: ("podCIDRs", STRING, R), 3: ("providerID", STRING),
                 4: ("unschedulable", BOOL), 5: ("taints", "Taint", R)},
    "Taint": {1: ("key", STRING), 2: ("value", STRING), 3: ("effect", STRING),
              4: ("timeAdded", TIME)},
    "Binding": {1: ("metadata", "ObjectMeta"), 2: ("target", "ObjectReference")},
    "ObjectReference": {1: ("kind", STRING), 2: ("namespace", STRING), 3: ("name", STRING),
                        4: ("uid", STRING), 5: ("apiVersion", STRING),
                        6: ("resourceVersion", STRING), 7: ("fieldPath", STRING)},
    "Event": {1: ("metadata", "ObjectMeta"), 2: ("involvedObject", "ObjectReference"),
              3: ("reason", STRING), 4: ("message", STRING), 5: ("source", "EventSource"),
              6: ("firstTimestamp", TIME), 7: ("lastTimestamp", TIME), 8: ("count", INT),
              9: ("type", STRING), 10: ("eventTime", MICROTIME), 12: ("action", STRING),
              14: ("reportingComponent", STRING), 15: ("reportingInstance", STRING)},
    "EventSource": {1: ("component", STRING), 2: ("host", STRING)},
    "Lease": {1: ("metadata", "ObjectMeta"), 2: ("spec", "LeaseSpec")},
    "ConfigMap": {1: ("metadata", "ObjectMeta"), 2: ("data", MAP_STRING),
                  3: ("binaryData", MAP_BYTES), 4: ("immutable", BOOL, P)},
    "Secret": {1: ("metadata", "ObjectMeta"), 2: ("data", MAP_BYTES), 3: ("type", STRING),
               4: ("stringData", MAP_STRING), 5: ("immutable", BOOL, P)},
    # ResourceQuota and LimitRange (kubectl create quota)
    "ResourceQuota": {1: ("metadata", "ObjectMeta"), 2: ("spec", "ResourceQuotaSpec"),
                      3: ("status", "ResourceQuotaStatus")},
    "ResourceQuotaSpec": {1: ("hard", MAP_QUANTITY), 2: ("scopes", STRING, R),
                          3: ("scopeSelector", "ScopeSelector")},
    "ScopeSelector": {1: ("matchExpressions", "ScopedResourceSelectorRequirement", R)},
    "ScopedResourceSelectorRequirement": {1: ("scopeName", STRING), 2: ("operator", STRING),
                                          3: ("values", STRING, R)},
    "ResourceQuotaStatus": {1: ("hard", MAP_QUANTITY), 2: ("used", MAP_QUANTITY)},
    "LimitRange": {1: ("metadata", "ObjectMeta"), 2: ("spec", "LimitRangeSpec")},
    # policy/v1 (kubectl create pdb; kubectl drain's Eviction)
    "PodDisruptionBudget": {1: ("metadata", "ObjectMeta"), 2: ("spec", "PDBSpec")},
    "PDBSpec": {1: ("minAvailable", INTSTR), 2: ("selector", "LabelSelector"),
                3: ("maxUnavailable", INTSTR), 4: ("unhealthyPodEvictionPolicy", STRING, P)},
    "Eviction": {1: ("metadata", "ObjectMeta"), 2: ("deleteOptions", "DeleteOptions")},
    "DeleteOptions": {1: ("gracePeriodSeconds", INT, P), 2: ("preconditions", "Preconditions"),
                      3: ("orphanDependents", BOOL, P), 4: ("propagationPolicy", STRING, P),
                      5: ("dryRun", STRING, R)},
    "Preconditions": {1: ("uid", STRING, P), 2: ("resourceVersion", STRING, P)},
    "LimitRangeSpec": {1: ("limits", "LimitRangeItem", R)},
    "LimitRangeItem": {1: ("type", STRING), 2: ("max", MAP_QUANTITY), 3: ("min", MAP_QUANTITY),
                       4: ("default", MAP_QUANTITY), 5: ("defaultRequest", MAP_QUANTITY),
                       6: ("maxLimitRequestRatio", MAP_QUANTITY)},
    "ServiceAccount": {1: ("metadata", "ObjectMeta"), 2: ("secrets", "ObjectReference", R),
                       3: ("imagePullSecrets", "LocalObjectReference", R),
                       4: ("automountServiceAccountToken", BOOL, P)},
    # authentication.k8s.io/v1 (kubectl create token)
    "TokenRequest": {1: ("metadata", "ObjectMeta"), 2: ("spec", "TokenRequestSpec")},
    "TokenRequestSpec": {1: ("audiences", STRING, R), 4: ("expirationSeconds", INT, P),
                         3: ("boundObjectRef", "BoundObjectReference")},
    "BoundObjectReference": {1: ("kind", STRING), 2: ("apiVersion", STRING),
                             3: ("name", STRING), 4: ("uid", STRING)},
    "LeaseSpec": {1: ("holderIdentity", STRING, P), 2: ("leaseDurationSeconds", INT, P),
                  3: ("acquireTime", MICROTIME), 4: ("renewTime", MICROTIME),
                  5: ("leaseTransitions", INT, P)},
    "Pod": {1: ("metadata", "ObjectMeta"), 2: ("spec", "PodSpec")},
    "PodTemplateSpec": {1: ("metadata", "ObjectMeta"), 2: ("spec", "PodSpec")},
    "PodSpec": {
        1: ("volumes", "Volume", R), 20: ("initContainers", "Container", R),
        2: ("containers", "Container", R), 3: ("restartPolicy", STRING),
        4: ("terminationGracePeriodSeconds", INT, P), 5: ("activeDeadlineSeconds", INT, P),
        6: ("dnsPolicy", STRING), 7: ("nodeSelector", MAP_STRING),
        8: ("serviceAccountName", STRING), 21: ("automountServiceAccountToken", BOOL, P),
        10: ("nodeName", STRING), 11: ("hostNetwork", BOOL), 12: ("hostPID", BOOL),
        13: ("hostIPC", BOOL), 15: ("imagePullSecrets", "LocalObjectReference", R),
        16: ("hostname", STRING), 17: ("subdomain", STRING), 18: ("affinity", "Affinity"),
        19: ("schedulerName", STRING), 22: ("tolerations", "Toleration", R),
        24: ("priorityClassName", STRING), 25: ("priority", INT, P),
        29: ("runtimeClassName", STRING, P), 30: ("enableServiceLinks", BOOL, P),
        14: ("securityContext", "PodSecurityContext"),
        27: ("shareProcessNamespace", BOOL, P),
    },
    "PodSecurityContext": {2: ("runAsUser", INT, P), 6: ("runAsGroup", INT, P),
                           3: ("runAsNonRoot", BOOL, P), 5: ("fsGroup", INT, P),
                           9: ("fsGroupChangePolicy", STRING, P),
                           10: ("seccompProfile", "SeccompProfile")},
    "SecurityContext": {1: ("capabilities", "Capabilities"), 2: ("privileged", BOOL, P),
                        4: ("runAsUser", INT, P), 8: ("runAsGroup", INT, P),
                        5: ("runAsNonRoot", BOOL, P), 6: ("readOnlyRootFilesystem", BOOL, P),
                        7: ("allowPrivilegeEscalation", BOOL, P), 9: ("procMount", STRING, P),
                        11: ("seccompProfile", "SeccompProfile")},
    "Capabilities": {1: ("add", STRING, R), 2: ("drop", STRING, R)},
    "SeccompProfile": {1: ("type", STRING), 2: ("localhostProfile", STRING, P)},
    "Container": {
        19: ("envFrom", "EnvFromSource", R),
        1: ("name", STRING), 2: ("image", STRING), 3: ("command", STRING, R),
        4: ("args", STRING, R), 5: ("workingDir", STRING), 6: ("ports", "ContainerPort", R),
        7: ("env", "EnvVar", R), 8: ("resources", "ResourceRequirements"),
        24: ("restartPolicy", STRING, P), 9: ("volumeMounts", "VolumeMount", R),
        10: ("livenessProbe", "Probe"), 11: ("readinessProbe", "Probe"),
        22: ("startupProbe", "Probe"), 13: ("terminationMessagePath", STRING),
        20: ("terminationMessagePolicy", STRING), 14: ("imagePullPolicy", STRING),
        16: ("stdin", BOOL), 17: ("stdinOnce", BOOL), 18: ("tty", BOOL),
        15: ("securityContext", "SecurityContext"),
    },
    "ContainerPort": {1: ("name", STRING), 2: ("hostPort", INT), 3: ("containerPort", INT),
                      4: ("protocol", STRING), 5: ("hostIP", STRING)},
    "EnvVar": {1: ("name", STRING), 2: ("value", STRING), 3: ("valueFrom", "EnvVarSource")},
    "EnvVarSource": {1: ("fieldRef", "ObjectFieldSelector"),
                     2: ("resourceFieldRef", "ResourceFieldSelector"),
                     3: ("configMapKeyRef", "KeySelector"), 4: ("secretKeyRef", "KeySelector")},
    "ObjectFieldSelector": {1: ("apiVersion", STRING), 2: ("fieldPath", STRING)},
    "ResourceFieldSelector": {1: ("containerName", STRING), 2: ("resource", STRING),
                              3: ("divisor", QUANTITY)},
    "KeySelector": {1: ("", "LocalObjectReference", INLINE), 2: ("key", STRING),
                    3: ("optional", BOOL, P)},
    "LocalObjectReference": {1: ("name", STRING)},
    "EnvFromSource": {1: ("prefix", STRING), 2: ("configMapRef", "ConfigMapEnvSource"),
                      3: ("secretRef", "SecretEnvSource")},
    "ConfigMapEnvSource": {1: ("", "LocalObjectReference", INLINE), 2: ("optional", BOOL, P)},
    "SecretEnvSource": {1: ("", "LocalObjectReference", INLINE), 2: ("optional", BOOL, P)},
    "ResourceRequirements": {1: ("limits", MAP_QUANTITY), 2: ("requests", MAP_QUANTITY)},
    "Probe": {1: ("", "ProbeHandler", INLINE), 2: ("initialDelaySeconds", INT),
              3: ("timeoutSeconds", INT), 4: ("periodSeconds", INT),
              5: ("successThreshold", INT), 6: ("failureThreshold", INT),
              7: ("terminationGracePeriodSeconds", INT, P)},
    "ProbeHandler": {1: ("exec", "ExecAction"), 2: ("httpGet", "HTTPGetAction"),
                     3: ("tcpSocket", "TCPSocketAction")},
    "ExecAction": {1: ("command", STRING, R)},
    "HTTPGetAction": {1: ("path", STRING), 2: ("port", INTSTR), 3: ("host", STRING),
                      4: ("scheme", STRING), 5: ("httpHeaders", "HTTPHeader", R)},
    "HTTPHeader": {1: ("name", STRING), 2: ("value", STRING)},
    "TCPSocketAction": {1: ("port", INTSTR), 2: ("host", STRING)},
    "VolumeMount": {1: ("name", STRING), 2: ("readOnly", BOOL), 3: ("mountPath", STRING),
                    4: ("subPath", STRING), 5: ("mountPropagation", STRING, P),
                    6: ("subPathExpr", STRING)},
    "Volume": {1: ("name", STRING), 2: ("", "VolumeSource", INLINE)},
    "VolumeSource": {1: ("hostPath", "HostPathVolumeSource"),
                     2: ("emptyDir", "EmptyDirVolumeSource"),
                     6: ("secret", "SecretVolumeSource"),
                     19: ("configMap", "ConfigMapVolumeSource")},
    "SecretVolumeSource": {1: ("secretName", STRING), 2: ("items", "KeyToPath", R),
                           3: ("defaultMode", INT, P), 4: ("optional", BOOL, P)},
    "ConfigMapVolumeSource": {1: ("", "LocalObjectReference", INLINE),
                              2: ("items", "KeyToPath", R), 3: ("defaultMode", INT, P),
                              4: ("optional", BOOL, P)},
    "KeyToPath": {1: ("key", STRING), 2: ("path", STRING), 3: ("mode", INT, P)},
    "HostPathVolumeSource": {1: ("path", STRING), 2: ("type", STRING, P)},
    "EmptyDirVolumeSource": {1: ("medium", STRING), 2: ("sizeLimit", QUANTITY)},
    "Toleration": {1: ("key", STRING), 2: ("operator", STRING), 3: ("value", STRING),
                   4: ("effect", STRING), 5: ("tolerationSeconds", INT, P)},
    "Affinity": {1: ("nodeAffinity", "NodeAffinity")},
    "NodeAffinity": {
        1: ("requiredDuringSchedulingIgnoredDuringExecution", "NodeSelector"),
        2: ("preferredDuringSchedulingIgnoredDuringExecution", "PreferredSchedulingTerm", R),
    },
    "NodeSelector": {1: ("nodeSelectorTerms", "NodeSelectorTerm", R)},
    "NodeSelectorTerm": {1: ("matchExpressions", "NodeSelectorRequirement", R),
                         2: ("matchFields", "NodeSelectorRequirement", R)},
    "NodeSelectorRequirement": {1: ("key", STRING), 2: ("operator", STRING),
                                3: ("values", STRING, R)},
    "PreferredSchedulingTerm": {1: ("weight", INT), 2: ("preference", "NodeSelectorTerm")},
    # core/v1 Service (kubectl create service clusterip|nodeport|externalname sends it)
    "Service": {1: ("metadata", "ObjectMeta"), 2: ("spec", "ServiceSpec")},
    "ServiceSpec": {
        1: ("ports", "ServicePort", R), 2: ("selector", MAP_STRING), 3: ("clusterIP", STRING),
        18: ("clusterIPs", STRING, R), 4: ("type", STRING), 5: ("externalIPs", STRING, R),
        7: ("sessionAffinity", STRING), 8: ("loadBalancerIP", STRING),
        9: ("loadBalancerSourceRanges", STRING, R), 10: ("externalName", STRING),
        11: ("externalTrafficPolicy", STRING), 12: ("healthCheckNodePort", INT),
        13: ("publishNotReadyAddresses", BOOL),
        14: ("sessionAffinityConfig", "SessionAffinityConfig"),
        19: ("ipFamilies", STRING, R), 17: ("ipFamilyPolicy", STRING, P),
        20: ("allocateLoadBalancerNodePorts", BOOL, P), 21: ("loadBalancerClass", STRING, P),
        22: ("internalTrafficPolicy", STRING, P), 23: ("trafficDistribution", STRING, P),
    },
    "ServicePort": {1: ("name", STRING), 2: ("protocol", STRING), 6: ("appProtocol", STRING, P),
                    3: ("port", INT), 4: ("targetPort", INTSTR), 5: ("nodePort", INT)},
    "SessionAffinityConfig": {1: ("clientIP", "ClientIPConfig")},
    "ClientIPConfig": {1: ("timeoutSeconds", INT, P)},
    # autoscaling/v2 HorizontalPodAutoscaler (kubectl autoscale sends it)
    "HorizontalPodAutoscaler": {1: ("metadata", "ObjectMeta"), 2: ("spec", "HPASpec")},
    "HPASpec": {1: ("scaleTargetRef", "CrossVersionObjectReference"),
                2: ("minReplicas", INT, P), 3: ("maxReplicas", INT),
                4: ("metrics", "MetricSpec", R), 5: ("behavior", "HPABehavior")},
    "CrossVersionObjectReference": {1: ("kind", STRING), 2: ("name", STRING),
                                    3: ("apiVersion", STRING)},
    "MetricSpec": {1: ("type", STRING), 4: ("resource", "ResourceMetricSource"),
                   7: ("containerResource", "ContainerResourceMetricSource")},
    "ResourceMetricSource": {1: ("name", STRING), 2: ("target", "MetricTarget")},
    "ContainerResourceMetricSource": {1: ("name", STRING), 2: ("target", "MetricTarget"),
                                      3: ("container", STRING)},
    "MetricTarget": {1: ("type", STRING), 2: ("value", QUANTITY),
                     3: ("averageValue", QUANTITY), 4: ("averageUtilization", INT, P)},
    "HPABehavior": {1: ("scaleUp", "HPAScalingRules"), 2: ("scaleDown", "HPAScalingRules")},
    "HPAScalingRules": {3: ("stabilizationWindowSeconds", INT, P),
                        1: ("selectPolicy", STRING, P), 2: ("policies", "HPAScalingPolicy", R)},
    "HPAScalingPolicy": {1: ("type", STRING), 2: ("value", INT), 3: ("periodSeconds", INT)},
    # rbac.authorization.k8s.io/v1 (kubectl create role/clusterrole/rolebinding/...)
    "Role": {1: ("metadata", "ObjectMeta"), 2: ("rules", "PolicyRule", R)},
    "ClusterRole": {1: ("metadata", "ObjectMeta"), 2: ("rules", "PolicyRule", R),
                    3: ("aggregationRule", "AggregationRule")},
    "PolicyRule": {1: ("verbs", STRING, R), 2: ("apiGroups", STRING, R),
                   3: ("resources", STRING, R), 4: ("resourceNames", STRING, R),
                   5: ("nonResourceURLs", STRING, R)},
    "AggregationRule": {1: ("clusterRoleSelectors", "LabelSelector", R)},
    "RoleBinding": {1: ("metadata", "ObjectMeta"), 2: ("subjects", "Subject", R),
                    3: ("roleRef", "RoleRef")},
    "Subject": {1: ("kind", STRING), 2: ("apiGroup", STRING), 3: ("name", STRING),
                4: ("namespace", STRING)},
    "RoleRef": {1: ("apiGroup", STRING), 2: ("kind", STRING), 3: ("name", STRING)},
    # authorization.k8s.io/v1 (kubectl auth can-i)
    "SubjectAccessReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SARSpec")},
    "SARSpec": {1: ("resourceAttributes", "ResourceAttributes"),
                2: ("nonResourceAttributes", "NonResourceAttributes"), 3: ("user", STRING),
                4: ("groups", STRING, R), 6: ("uid", STRING)},
    "SelfSubjectAccessReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SSARSpec")},
    "SSARSpec": {1: ("resourceAttributes", "ResourceAttributes"),
                 2: ("nonResourceAttributes", "NonResourceAttributes")},
    "ResourceAttributes": {1: ("namespace", STRING), 2: ("verb", STRING), 3: ("group", STRING),
                           4: ("version", STRING), 5: ("resource", STRING),
                           6: ("subresource", STRING), 7: ("name", STRING)},
    "NonResourceAttributes": {1: ("path", STRING), 2: ("verb", STRING)},
    "SelfSubjectRulesReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SSRRSpec")},
    "SSRRSpec": {1: ("namespace", STRING)},
    # networking.k8s.io/v1 (kubectl create ingress)
    "Ingress": {1: ("metadata", "ObjectMeta"), 2: ("spec", "IngressSpec")},
    "IngressSpec": {1: ("defaultBackend", "IngressBackend"), 2: ("tls", "IngressTLS", R),
                    3: ("rules", "IngressRule", R), 4: ("ingressClassName", STRING, P)},
    "IngressTLS": {1: ("hosts", STRING, R), 2: ("secretName", STRING)},
    "IngressRule": {1: ("host", STRING), 2: ("", "IngressRuleValue", INLINE)},
    "IngressRuleValue": {1: ("http", "HTTPIngressRuleValue")},
    "HTTPIngressRuleValue": {1: ("paths", "HTTPIngressPath", R)},
    "HTTPIngressPath": {1: ("path", STRING), 2: ("backend", "IngressBackend"),
                        3: ("pathType", STRING, P)},
    "IngressBackend": {3: ("resource", "TypedLocalObjectReference"),
                       4: ("service", "IngressServiceBackend")},
    "IngressServiceBackend": {1: ("name", STRING), 2: ("port", "ServiceBackendPort")},
    "ServiceBackendPort": {1: ("name", STRING), 2: ("number", INT)},
    "TypedLocalObjectReference": {1: ("apiGroup", STRING, P), 2: ("kind", STRING),
                                  3: ("name", STRING)},
    "IngressClass": {1: ("metadata", "ObjectMeta"), 2: ("spec", "IngressClassSpec")},
    "IngressClassSpec": {1: ("controller", STRING),
                         2: ("parameters", "IngressClassParametersReference")},
    "IngressClassParametersReference": {1: ("apiGroup", STRING, P), 2: ("kind", STRING),
                                        3: ("name", STRING), 4: ("scope", STRING, P),
                                        5: ("namespace", STRING, P)},
    # certificates.k8s.io/v1 (kubectl certificate approve|deny PUT .../approval)
    "CertificateSigningRequest": {1: ("metadata", "ObjectMeta"),
                                  2: ("spec", "CertificateSigningRequestSpec"),
                                  3: ("status", "CertificateSigningRequestStatus")},
    "CertificateSigningRequestSpec": {1: ("request", BYTES), 7: ("signerName", STRING),
                                      8: ("expirationSeconds", INT, P),
                                      5: ("usages", STRING, R), 2: ("username", STRING),
                                      3: ("uid", STRING), 4: ("groups", STRING, R)},
    "CertificateSigningRequestStatus": {
        1: ("conditions", "CertificateSigningRequestCondition", R),
        2: ("certificate", BYTES)},
    "CertificateSigningRequestCondition": {1: ("type", STRING), 6: ("status", STRING),
                                           2: ("reason", STRING), 3: ("message", STRING),
                                           4: ("lastUpdateTime", TIME),
                                           5: ("lastTransitionTime", TIME)},
}

# apiVersion/kind of the envelope -> the top-level message.
KINDS: dict[tuple[str, str], str] = {
    ("v1", "Pod"): "Pod", ("v1", "Namespace"): "Namespace", ("v1", "Node"): "Node",
    ("v1", "Binding"): "Binding", ("v1", "Event"): "Event",
    ("apps/v1", "Deployment"): "Deployment", ("apps/v1", "ReplicaSet"): "ReplicaSet",
    ("batch/v1", "Job"): "Job", ("batch/v1", "CronJob"): "CronJob",
    ("autoscaling/v1", "Scale"): "Scale", ("coordination.k8s.io/v1", "Lease"): "Lease",
    ("authentication.k8s.io/v1", "TokenReview"): "TokenReview",
    ("authentication.k8s.io/v1", "SelfSubjectReview"): "SelfSubjectReview",
    ("v1", "ConfigMap"): "ConfigMap", ("v1", "Secret"): "Secret",
    ("v1", "Service"): "Service", ("v1", "ServiceAccount"): "ServiceAccount",
    ("v1", "ResourceQuota"): "ResourceQuota", ("v1", "LimitRange"): "LimitRange",
    ("policy/v1", "PodDisruptionBudget"): "PodDisruptionBudget",
    ("networking.k8s.io/v1", "Ingress"): "Ingress",
    ("networking.k8s.io/v1", "IngressClass"): "IngressClass",
    ("certificates.k8s.io/v1", "CertificateSigningRequest"): "CertificateSigningRequest",
    ("policy/v1", "Eviction"): "Eviction", ("policy/v1beta1", "Eviction"): "Eviction",
    ("authentication.k8s.io/v1", "TokenRequest"): "TokenRequest",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "HorizontalPodAutoscaler",
    ("rbac.authorization.k8s.io/v1", "Role"): "Role",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "ClusterRole",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "RoleBinding",
    ("authorization.k8s.io/v1", "SubjectAccessReview"): "SubjectAccessReview",
    ("authorization.k8s.io/v1", "LocalSubjectAccessReview"): "SubjectAccessReview",
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): "SelfSubjectAccessReview",
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): "SelfSubjectRulesReview",
}


class ProtobufError(ValueError):
    """A body that is not a Kubernetes protobuf object we can read (400 BadRequest)."""


def is_protobuf(content_type: str | None) -> bool:
    return bool(content_type) and \
        str(content_type).split(";")[0].strip().lower() == CONTENT_TYPE


# ---- wire format -------------------------------------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) in order; value is int or bytes."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtobufError("field number 0")
        value: Any
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            if pos + 8 > len(data):
                raise ProtobufError("truncated fixed64")
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ProtobufError("truncated length-delimited field")
            value, pos = data[pos:pos + length], pos + length
        elif wire == 5:
            if pos + 4 > len(data):
                raise ProtobufError("truncated fixed32")
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _signed(n: int) -> int:
    return n - (1 << 64) if n >= 1 << 63 else n


def _text(raw: Any) -> str:
    if not isinstance(raw, bytes):
        raise ProtobufError("expected a length-delimited string")
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise ProtobufError("invalid UTF-8 in a string field") from None


def _time(raw: Any, micro: bool) -> str | None:
    if not isinstance(raw, bytes):
        raise ProtobufError("expected a Time message")
    seconds = nanos = 0
    for number, wire, value in _fields(raw):
        if number == 1 and wire == 0:
            seconds = _signed(value)
        elif number == 2 and wire == 0:
            nanos = _signed(value)
    if seconds == 0 and nanos == 0:
        return None
    t = datetime.fromtimestamp(seconds, UTC)
    if micro:
        return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos // 1000:06d}Z"
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _quantity(raw: Any) -> str:
    if not isinstance(raw, bytes):
        raise ProtobufError("expected a Quantity message")
    for number, _, value in _fields(raw):
        if number == 1:
            return _text(value)
    return "0"


def _intstr(raw: Any) -> int | str:
    if not isinstance(raw, bytes):
        raise ProtobufError("expected an IntOrString message")
    kind = int_val = 0
    str_val = ""
    for number, _, value in _fields(raw):
        if number == 1:
            kind = value
        elif number == 2:
            int_val = _signed(value)
        elif number == 3:
            str_val = _text(value)
    return str_val if kind == 1 else int_val


def _map_entry(raw: Any, kind: str) -> tuple[str, str]:
    if not isinstance(raw, bytes):
        raise ProtobufError("expected a map entry")
    key, val = "", ""
    for number, _, value in _fields(raw):
        if number == 1:
            key = _text(value)
        elif number == 2:
            if kind == MAP_QUANTITY:
                val = _quantity(value)
            elif kind == MAP_BYTES:
                if not isinstance(value, bytes):
                    raise ProtobufError("expected a bytes map value")
                val = base64.b64encode(value).decode()
            else:
                val = _text(value)
    return key, val


def _scalar(kind: str, wire: int, raw: Any) -> Any:
    if kind == STRING:
        return _text(raw)
    if kind == INT:
        if wire != 0:
            raise ProtobufError("expected a varint")
        return _signed(raw)
    if kind == BOOL:
        if wire != 0:
            raise ProtobufError("expected a varint")
        return bool(raw)
    if kind == BYTES:
        return base64.b64encode(raw).decode()
    if kind == TIME:
        return _time(raw, micro=False)
    if kind == MICROTIME:
        return _time(raw, micro=True)
    if kind == QUANTITY:
        return _quantity(raw)
    if kind == INTSTR:
        return _intstr(raw)
    raise ProtobufError(f"unknown field kind {kind}")


def _empty(value: Any) -> bool:
    return value is None or value == "" or value is False or value == 0


def decode_message(message: str, data: bytes) -> JSONDict:
    schema = SCHEMA[message]
    out: JSONDict = {}
    for number, wire, raw in _fields(data):
        spec = schema.get(number)
        if spec is None:
            continue
        name, kind = spec[0], spec[1]
        flag = spec[2] if len(spec) > 2 else ""
        if kind in (MAP_STRING, MAP_QUANTITY, MAP_BYTES):
            k, v = _map_entry(raw, kind)
            out.setdefault(name, {})[k] = v
            continue
        if kind in SCHEMA:
            if not isinstance(raw, bytes):
                raise ProtobufError(f"expected a {kind} message")
            value: Any = decode_message(kind, raw)
            if flag == INLINE:
                out.update(value)
                continue
        else:
            value = _scalar(kind, wire, raw)
        if flag == R:
            out.setdefault(name, []).append(value)
        elif flag == P:
            if value is not None:
                out[name] = value
        elif not _empty(value):
            out[name] = value
    return out


def decode(body: bytes) -> JSONDict:
    """A ``k8s\\x00``-prefixed runtime.Unknown holding one of KINDS, as its JSON object."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf prefix")
    api_version = kind = ""
    raw = b""
    encoding = ""
    for number, _, value in _fields(body[len(MAGIC):]):
        if number == 1:
            for n, _, v in _fields(value):
                if n == 1:
                    api_version = _text(v)
                elif n == 2:
                    kind = _text(v)
        elif number == 2:
            raw = value
        elif number == 3:
            encoding = _text(value)
    if encoding:
        raise ProtobufError(f"unsupported content encoding {encoding!r}")
    message = KINDS.get((api_version, kind))
    if message is None and kind == "DeleteOptions":
        # a DELETE's body (client-go's typed clients: kubectl drain --disable-eviction),
        # stamped with the group version of the client that sent it
        message = "DeleteOptions"
    if message is None:
        raise ProtobufError(f"protobuf bodies of {kind or 'unknown kind'} "
                            f"({api_version or 'no apiVersion'}) are not supported; send JSON")
    obj = decode_message(message, raw)
    return {"apiVersion": api_version, "kind": kind, **obj}


# ---- encoding, for tests and for symmetry with what kubectl sends ---------------------


def _key(number: int, wire: int) -> bytes:
    return encode_varint(number << 3 | wire)


def encode_varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def length_delimited(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + encode_varint(len(payload)) + payload


def _encode_scalar(number: int, kind: str, value: Any) -> bytes:
    if kind == STRING:
        return length_delimited(number, str(value).encode())
    if kind in (INT, BOOL):
        return _key(number, 0) + encode_varint(int(value))
    if kind in (TIME, MICROTIME):
        t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        secs = int(t.timestamp())
        inner = _key(1, 0) + encode_varint(secs)
        if t.microsecond:
            inner += _key(2, 0) + encode_varint(t.microsecond * 1000)
        return length_delimited(number, inner)
    if kind == QUANTITY:
        return length_delimited(number, length_delimited(1, str(value).encode()))
    if kind == INTSTR:
        if isinstance(value, str):
            return length_delimited(number, _key(1, 0) + encode_varint(1) + length_delimited(3, value.encode()))
        return length_delimited(number, _key(1, 0) + encode_varint(0) + _key(2, 0) + encode_varint(value))
    if kind == BYTES:
        return length_delimited(number, base64.b64decode(value))
    raise ValueError(kind)


def encode_message(message: str, obj: JSONDict) -> bytes:
    out = b""
    for number, spec in SCHEMA[message].items():
        name, kind = spec[0], spec[1]
        flag = spec[2] if len(spec) > 2 else ""
        if flag == INLINE:
            inner = encode_message(kind, obj)
            if inner:
                out += length_delimited(number, inner)
            continue
        if name not in obj:
            continue
        value = obj[name]
        if kind in (MAP_STRING, MAP_QUANTITY, MAP_BYTES):
            for k, v in value.items():
                if kind == MAP_QUANTITY:
                    vb = length_delimited(1, str(v).encode())
                elif kind == MAP_BYTES:
                    vb = base64.b64decode(v)
                else:
                    vb = str(v).encode()
                out += length_delimited(number, length_delimited(1, k.encode()) + length_delimited(2, vb))
            continue
        values = value if flag == R else [value]
        for v in values:
            if kind in SCHEMA:
                out += length_delimited(number, encode_message(kind, v))
            else:
                out += _encode_scalar(number, kind, v)
    return out


def encode(obj: JSONDict) -> bytes:
    api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
    message = KINDS[(api_version, kind)]
    type_meta = length_delimited(1, api_version.encode()) + length_delimited(2, kind.encode())
    return MAGIC + length_delimited(1, type_meta) + length_delimited(2, encode_message(message, obj))

