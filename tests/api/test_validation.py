"""Validation: Kubernetes' field paths, reasons and messages for every served kind."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from api.defaults import apply_defaults
from api.validation import (
    FieldError,
    invalid_message,
    is_dns1123_label,
    is_dns1123_subdomain,
    validate,
    validate_update,
)

JSON = dict[str, Any]

DNS_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def pod() -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": "nginx:1.25",
                    "ports": [{"containerPort": 80, "name": "http"}],
                    "env": [{"name": "MODE", "value": "prod"}],
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1"}},
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    "livenessProbe": {"httpGet": {"path": "/", "port": 80}},
                    "readinessProbe": {"tcpSocket": {"port": "http"}},
                }
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "restartPolicy": "Always",
            "tolerations": [{"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}
                        ]
                    }
                }
            },
        },
    }


def deployment() -> JSON:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        },
    }


def replicaset() -> JSON:
    d = deployment()
    d["kind"] = "ReplicaSet"
    del d["spec"]["strategy"]
    return d


def node() -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1"}},
        "spec": {"podCIDR": "10.244.1.0/24", "taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]},
        "status": {"capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"}},
    }


def event() -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "web-1.17a", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default"},
        "reason": "Scheduled",
        "type": "Normal",
        "count": 1,
    }


def lease() -> JSON:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "node-1", "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40},
    }


def namespace() -> JSON:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}, "spec": {"finalizers": ["kubernetes"]}}


BASES: dict[str, Callable[[], JSON]] = {
    "Pod": pod,
    "Deployment": deployment,
    "ReplicaSet": replicaset,
    "Node": node,
    "Event": event,
    "Lease": lease,
    "Namespace": namespace,
}


@pytest.mark.parametrize("kind", sorted(BASES))
def test_valid_objects(kind: str) -> None:
    obj = BASES[kind]()
    assert validate(kind, obj) == []
    apply_defaults(kind, obj)
    assert validate(kind, obj) == []


def at(obj: JSON, path: str) -> tuple[Any, str]:
    """The container of ``path``'s last element and its key (dots and [i] indexes)."""
    parts: list[str | int] = []
    for p in path.split("."):
        while "[" in p:
            head, rest = p.split("[", 1)
            if head:
                parts.append(head)
            idx, p = rest.split("]", 1)
            parts.append(int(idx))
        if p:
            parts.append(p)
    cur: Any = obj
    for p in parts[:-1]:
        cur = cur[p]
    return cur, parts[-1]  # type: ignore[return-value]


def setp(obj: JSON, path: str, value: Any) -> None:
    cur, last = at(obj, path)
    cur[last] = value


def delp(obj: JSON, path: str) -> None:
    cur, last = at(obj, path)
    del cur[last]


DELETE = object()
C0 = "spec.containers[0]"

# (kind, {path: new value or DELETE}, expected "field: body" strings, in order)
CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    # --- metadata
    ("Pod", {"metadata.name": DELETE}, ["metadata.name: Required value: name or generateName is required"]),
    ("Pod", {"metadata.name": DELETE, "metadata.generateName": "web-"}, []),
    ("Pod", {"metadata.name": DELETE, "metadata.generateName": "Web-"},
     [f'metadata.generateName: Invalid value: "Web-": {DNS_SUBDOMAIN_MSG}']),
    ("Pod", {"metadata.name": "Web_1"}, [f'metadata.name: Invalid value: "Web_1": {DNS_SUBDOMAIN_MSG}']),
    ("Pod", {"metadata.name": "a.b"}, []),
    ("Pod", {"metadata.namespace": DELETE}, ["metadata.namespace: Required value"]),
    ("Pod", {"metadata.namespace": "Bad"}, [f'metadata.namespace: Invalid value: "Bad": {DNS_LABEL_MSG}']),
    ("Node", {"metadata.namespace": "default"}, ["metadata.namespace: Forbidden: not allowed on this type"]),
    ("Namespace", {"metadata.name": "a.b"}, [f'metadata.name: Invalid value: "a.b": {DNS_LABEL_MSG}']),
    ("Namespace", {"metadata.name": "x" * 64},
     [f'metadata.name: Invalid value: "{"x" * 64}": must be no more than 63 characters']),
    ("Pod", {"metadata.labels": {"bad key": "v"}},
     ['metadata.labels: Invalid value: "bad key": name part must consist of alphanumeric characters, '
      "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or "
      "'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"]),
    ("Pod", {"metadata.labels": {"app": "-web"}},
     ['metadata.labels: Invalid value: "-web": a valid label must be an empty string or consist of '
      "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character "
      "(e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
      "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"]),
    ("Pod", {"metadata.labels": {"app": 1}}, ["metadata.labels: Invalid value: 1: must be a string"]),
    ("Pod", {"metadata.annotations": {"Example.COM/Key": "x"}}, []),  # keys are lower-cased first
    ("Pod", {"metadata.annotations": {"a": "x" * (256 * 1024)}},
     ["metadata.annotations: Too long: may not be more than 262144 bytes"]),
    ("Pod", {"metadata.finalizers": ["example.com/cleanup", "bad/key/x"]},
     ["metadata.finalizers: Invalid value: \"bad/key/x\": a qualified name must consist of alphanumeric "
      "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  "
      "or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') "
      "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]),
    ("Pod", {"metadata.ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs"}]},
     ['metadata.ownerReferences.uid: Invalid value: "": uid must not be empty']),
    ("Pod", {"metadata.generation": -1}, ["metadata.generation: Invalid value: -1: must be greater than or equal to 0"]),
    # --- pod spec
    ("Pod", {"spec.containers": []}, ["spec.containers: Required value"]),
    ("Pod", {f"{C0}.image": DELETE}, [f"{C0}.image: Required value"]),
    ("Pod", {f"{C0}.image": " nginx"}, [f'{C0}.image: Invalid value: " nginx": must not have leading or trailing whitespace']),
    ("Pod", {f"{C0}.name": DELETE}, [f"{C0}.name: Required value"]),
    ("Pod", {f"{C0}.name": "Web"}, [f'{C0}.name: Invalid value: "Web": {DNS_LABEL_MSG}']),
    ("Pod", {"spec.initContainers": [{"name": "web", "image": "busybox"}]},
     ['spec.initContainers[0].name: Duplicate value: "web"']),
    ("Pod", {"spec.initContainers": [{"name": "i", "image": "busybox", "readinessProbe": {"exec": {"command": ["true"]}}}]},
     ["spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always"]),
    ("Pod", {"spec.initContainers": [{"name": "i", "image": "busybox", "restartPolicy": "Always",
                                      "readinessProbe": {"exec": {"command": ["true"]}}}]}, []),  # a sidecar
    ("Pod", {"spec.initContainers": [{"name": "i", "image": "busybox", "restartPolicy": "Never"}]},
     ['spec.initContainers[0].restartPolicy: Unsupported value: "Never": supported values: "Always"']),
    ("Pod", {f"{C0}.ports[0].containerPort": 0}, [f"{C0}.ports[0].containerPort: Required value"]),
    ("Pod", {f"{C0}.ports[0].containerPort": 70000},
     [f"{C0}.ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"]),
    ("Pod", {f"{C0}.ports[0].hostPort": -1},
     [f"{C0}.ports[0].hostPort: Invalid value: -1: must be between 1 and 65535, inclusive"]),
    ("Pod", {f"{C0}.ports[0].protocol": "HTTP"},
     [f'{C0}.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"']),
    ("Pod", {f"{C0}.ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 81, "name": "http"}]},
     [f'{C0}.ports[1].name: Duplicate value: "http"']),
    ("Pod", {f"{C0}.ports[0].containerPort": "80"}, [f'{C0}.ports[0].containerPort: Invalid value: "80": must be an integer']),
    ("Pod", {"spec.restartPolicy": "Sometimes"},
     ['spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "Never", "OnFailure"']),
    ("Pod", {f"{C0}.imagePullPolicy": "Maybe"},
     [f'{C0}.imagePullPolicy: Unsupported value: "Maybe": supported values: "Always", "IfNotPresent", "Never"']),
    ("Pod", {f"{C0}.env[0].name": ""}, [f"{C0}.env[0].name: Required value"]),
    ("Pod", {f"{C0}.env[0].name": "1BAD"},
     [f'{C0}.env[0].name: Invalid value: "1BAD": a valid environment variable name must consist of alphabetic '
      "characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or "
      "'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"]),
    ("Pod", {f"{C0}.resources.requests.cpu": "2"},
     [f'{C0}.resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1']),
    ("Pod", {f"{C0}.resources.requests.cpu": "lots"},
     [f'{C0}.resources.requests[cpu]: Invalid value: "lots": quantities must match the regular expression '
      "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"]),
    ("Pod", {f"{C0}.resources.requests.memory": "-1Mi"},
     [f'{C0}.resources.requests[memory]: Invalid value: "-1Mi": must be greater than or equal to 0']),
    ("Pod", {f"{C0}.resources.limits.gpu": "1"},
     [f'{C0}.resources.limits[gpu]: Invalid value: "gpu": must be a standard resource for containers']),
    ("Pod", {f"{C0}.resources.limits": {"cpu": "1", "nvidia.com/gpu": "1"}}, []),
    ("Pod", {f"{C0}.resources.limits.cpu": "1000m", f"{C0}.resources.requests.cpu": "1"}, []),
    ("Pod", {f"{C0}.resources.limits.cpu": "1000m", f"{C0}.resources.requests.cpu": "1500m"},
     [f'{C0}.resources.requests: Invalid value: "1500m": must be less than or equal to cpu limit of 1']),
    ("Pod", {f"{C0}.livenessProbe": {"periodSeconds": 5}},
     [f"{C0}.livenessProbe: Required value: must specify a handler type"]),
    ("Pod", {f"{C0}.livenessProbe.tcpSocket": {"port": 80}},
     [f"{C0}.livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type"]),
    ("Pod", {f"{C0}.livenessProbe.successThreshold": 2},
     [f"{C0}.livenessProbe.successThreshold: Invalid value: 2: must be 1"]),
    ("Pod", {f"{C0}.readinessProbe.successThreshold": 2}, []),
    ("Pod", {f"{C0}.readinessProbe.periodSeconds": -1},
     [f"{C0}.readinessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0"]),
    ("Pod", {f"{C0}.readinessProbe": {"exec": {}}}, [f"{C0}.readinessProbe.exec.command: Required value"]),
    ("Pod", {f"{C0}.livenessProbe.httpGet.port": 0},
     [f"{C0}.livenessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive"]),
    ("Pod", {f"{C0}.readinessProbe.tcpSocket.port": "Http"},
     [f'{C0}.readinessProbe.tcpSocket.port: Invalid value: "Http": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)']),
    ("Pod", {f"{C0}.volumeMounts[0].name": "nope"}, [f'{C0}.volumeMounts[0].name: Not found: "nope"']),
    ("Pod", {f"{C0}.volumeMounts[0].mountPath": ""}, [f"{C0}.volumeMounts[0].mountPath: Required value"]),
    ("Pod", {f"{C0}.volumeMounts": [{"name": "data", "mountPath": "/d"}, {"name": "data", "mountPath": "/d"}]},
     [f'{C0}.volumeMounts[1].mountPath: Invalid value: "/d": must be unique']),
    ("Pod", {"spec.volumes": [{"name": "data", "emptyDir": {}}, {"name": "data", "emptyDir": {}}]},
     ['spec.volumes[1].name: Duplicate value: "data"']),
    ("Pod", {"spec.volumes": [{"name": "data"}]}, ["spec.volumes[0]: Required value: must specify a volume type"]),
    ("Pod", {"spec.volumes": [{"name": "data", "emptyDir": {}, "hostPath": {"path": "/x"}}]},
     ["spec.volumes[0].emptyDir: Forbidden: may not specify more than 1 volume type"]),
    ("Pod", {"spec.volumes": [{"name": "data", "hostPath": {}}]}, ["spec.volumes[0].hostPath.path: Required value"]),
    ("Pod", {"spec.volumes": [{"name": "data", "hostPath": {"path": "/x", "type": "Dir"}}]},
     ['spec.volumes[0].hostPath.type: Unsupported value: "Dir": supported values: "", "BlockDevice", '
      '"CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"']),
    ("Pod", {"spec.volumes": [{"name": "data", "configMap": {"name": "c"}}]}, []),
    ("Pod", {"spec.terminationGracePeriodSeconds": -1},
     ["spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0"]),
    ("Pod", {"spec.activeDeadlineSeconds": 0},
     ["spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive"]),
    ("Pod", {"spec.nodeName": "Node_1"}, [f'spec.nodeName: Invalid value: "Node_1": {DNS_SUBDOMAIN_MSG}']),
    ("Pod", {"spec.nodeSelector": {"disk": "-ssd"}}, None),  # message checked by field only
    ("Pod", {"spec.tolerations[0].operator": "Like"},
     ['spec.tolerations[0].operator: Unsupported value: "Like": supported values: "Equal", "Exists"']),
    ("Pod", {"spec.tolerations[0].operator": "Exists"}, None),
    ("Pod", {"spec.tolerations[0].effect": "Sometimes"},
     ['spec.tolerations[0].effect: Unsupported value: "Sometimes": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"']),
    ("Pod", {"spec.tolerations": [{"operator": "Exists"}]}, []),
    ("Pod", {"spec.tolerations": [{"operator": "Equal", "value": "x"}]},
     ['spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when `key` is empty, which means "match all values and all keys"']),
    ("Pod", {"spec.tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 5}]},
     ["spec.tolerations[0].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set"]),
    ("Pod", {"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms": []},
     ["spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms: Required value: must have at least one node selector term"]),
    ("Pod", {"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator": "Near"},
     ['spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator: Invalid value: "Near": not a valid selector operator']),
    ("Pod", {"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values": []},
     ["spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"]),
    ("Pod", {"spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 0, "preference": {}}]},
     ["spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 0: must be in the range 1-100"]),
    ("Pod", {"spec.dnsPolicy": "Google"},
     ['spec.dnsPolicy: Unsupported value: "Google": supported values: "ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"']),
    # --- odd shapes never raise
    ("Pod", {"spec.containers": "nginx"}, ['spec.containers: Invalid value: "nginx": must be a list', "spec.containers: Required value"]),
    # null decodes as an empty container, as in Go
    ("Pod", {"spec.containers": [None]}, ["spec.containers[0].name: Required value", "spec.containers[0].image: Required value"]),
    ("Pod", {"spec.containers": [3]}, ["spec.containers[0]: Invalid value: 3: must be an object",
                                       "spec.containers[0].name: Required value", "spec.containers[0].image: Required value"]),
    ("Pod", {"spec": None}, ["spec.containers: Required value"]),
    # --- deployment
    ("Deployment", {"spec.replicas": -1}, ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]),
    ("Deployment", {"spec.selector": DELETE}, ["spec.selector: Required value"]),
    ("Deployment", {"spec.selector": {}},
     ["spec.selector: Invalid value: {}: empty selector is invalid for deployment"]),
    ("Deployment", {"spec.selector.matchLabels.app": "api"},
     ['spec.template.metadata.labels: Invalid value: {"app":"web"}: `selector` does not match template `labels`']),
    ("Deployment", {"spec.selector": {"matchExpressions": [{"key": "app", "operator": "Near"}]}},
     ['spec.selector.matchExpressions[0].operator: Invalid value: "Near": not a valid selector operator',
      'spec.selector: Invalid value: {"matchExpressions":[{"key":"app","operator":"Near"}]}: invalid label selector']),
    ("Deployment", {"spec.selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]}}, []),
    # Gt and Lt are node selector operators only.
    ("Deployment", {"spec.selector": {"matchExpressions": [{"key": "app", "operator": "Gt", "values": ["1"]}]}},
     ['spec.selector.matchExpressions[0].operator: Invalid value: "Gt": not a valid selector operator',
      'spec.selector: Invalid value: {"matchExpressions":[{"key":"app","operator":"Gt","values":["1"]}]}: invalid label selector']),
    ("Pod", {"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0]": {"key": "cpus", "operator": "Gt", "values": ["1", "2"]}},
     ["spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values: Required value: must be specified single value when `operator` is 'Lt' or 'Gt'"]),
    ("Pod", {"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0]": {"key": "cpus", "operator": "Lt", "values": ["8"]}}, []),
    ("Deployment", {"spec.selector": {"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["x"]}]}},
     ["spec.selector.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
      'spec.selector: Invalid value: {"matchExpressions":[{"key":"app","operator":"Exists","values":["x"]}]}: invalid label selector']),
    ("Deployment", {"spec.template": DELETE},
     ['spec.template.metadata.labels: Invalid value: "null": `selector` does not match template `labels`',
      "spec.template.spec.containers: Required value"]),
    ("Deployment", {"spec.template.spec.containers[0].image": ""}, ["spec.template.spec.containers[0].image: Required value"]),
    ("Deployment", {"spec.template.spec.restartPolicy": "Never"},
     ['spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"']),
    ("Deployment", {"spec.template.spec.activeDeadlineSeconds": 10},
     ["spec.template.spec.activeDeadlineSeconds: Invalid value: 10: activeDeadlineSeconds in ReplicaSet is not Supported"]),
    ("Deployment", {"spec.template.metadata.labels.bad key": "x"}, None),
    ("Deployment", {"spec.strategy.type": "Blue"},
     ['spec.strategy: Unsupported value: {"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"Blue"}: supported values: "Recreate", "RollingUpdate"']),
    ("Deployment", {"spec.strategy.type": "Recreate"},
     ["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"]),
    ("Deployment", {"spec.strategy.rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}},
     ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "0%": may not be 0 when `maxSurge` is 0']),
    ("Deployment", {"spec.strategy.rollingUpdate.maxUnavailable": "120%"},
     ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "120%": must not be greater than 100%']),
    ("Deployment", {"spec.strategy.rollingUpdate.maxSurge": "120%"}, []),
    ("Deployment", {"spec.strategy.rollingUpdate.maxSurge": "x"},
     ["spec.strategy.rollingUpdate.maxSurge: Invalid value: \"x\": a valid percent string must be a numeric string "
      "followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"]),
    ("Deployment", {"spec.strategy.rollingUpdate.maxSurge": -1},
     ["spec.strategy.rollingUpdate.maxSurge: Invalid value: -1: must be greater than or equal to 0"]),
    ("Deployment", {"spec.revisionHistoryLimit": -1},
     ["spec.revisionHistoryLimit: Invalid value: -1: must be greater than or equal to 0"]),
    ("Deployment", {"spec.minReadySeconds": 10, "spec.progressDeadlineSeconds": 10},
     ["spec.progressDeadlineSeconds: Invalid value: 10: must be greater than minReadySeconds"]),
    ("Deployment", {"spec.minReadySeconds": -1}, ["spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0"]),
    ("Deployment", {"metadata.name": "Web"}, [f'metadata.name: Invalid value: "Web": {DNS_SUBDOMAIN_MSG}']),
    # --- replicaset
    ("ReplicaSet", {"spec.replicas": -2}, ["spec.replicas: Invalid value: -2: must be greater than or equal to 0"]),
    ("ReplicaSet", {"spec.selector": {"matchLabels": {}}},
     ['spec.selector: Invalid value: {"matchLabels":{}}: empty selector is invalid for deployment']),
    ("ReplicaSet", {"spec.template.metadata.labels": {"app": "other"}},
     ['spec.template.metadata.labels: Invalid value: {"app":"other"}: `selector` does not match template `labels`']),
    # --- node
    ("Node", {"spec.taints[0].effect": ""}, ["spec.taints[0].effect: Required value"]),
    ("Node", {"spec.taints[0].effect": "Never"},
     ['spec.taints[0].effect: Unsupported value: "Never": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"']),
    ("Node", {"spec.taints": [{"key": "a", "effect": "NoSchedule"}, {"key": "a", "value": "b", "effect": "NoSchedule"}]},
     ['spec.taints[1]: Duplicate value: {"effect":"NoSchedule","key":"a","value":"b"}: taints must be unique by key and effect pair']),
    ("Node", {"spec.podCIDR": "10.0.0.0/99"},
     ['spec.podCIDR: Invalid value: "10.0.0.0/99": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)']),
    ("Node", {"status.capacity.cpu": "two"},
     ['status.capacity[cpu]: Invalid value: "two": quantities must match the regular expression '
      "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"]),
    ("Node", {"metadata.name": "node.example.com"}, []),
    # --- namespace
    ("Namespace", {"spec.finalizers": ["kubernetes", "a/b/c"]}, None),
    # --- event
    ("Event", {"involvedObject.namespace": "other"},
     ['involvedObject.namespace: Invalid value: "other": does not match event.namespace']),
    ("Event", {"involvedObject": {"kind": "Node", "name": "node-1"}}, []),  # cluster-scoped object, default ns
    ("Event", {"metadata.namespace": "kube-system", "involvedObject": {"kind": "Node", "name": "node-1"}},
     ['involvedObject.namespace: Invalid value: "": does not match event.namespace']),
    ("Event", {"eventTime": "2026-01-01T00:00:00.000000Z"},
     ["reportingComponent: Required value", "reportingInstance: Required value", "action: Required value"]),
    ("Event", {"eventTime": "2026-01-01T00:00:00.000000Z", "reportingComponent": "kubelet",
               "reportingInstance": "node-1", "action": "Started"}, []),
    ("Event", {"type": "Info", "message": "m" * 5000}, []),  # core/v1 legacy leniency
    ("Event", {"eventTime": "2026-01-01T00:00:00.000000Z", "reportingComponent": "kubelet",
               "reportingInstance": "node-1", "action": "a" * 129, "message": "m" * 1025},
     ['action: Invalid value: "": can have at most 128 characters',
      'message: Invalid value: "": can have at most 1024 characters']),
    # --- lease
    ("Lease", {"spec.leaseDurationSeconds": 0}, ["spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"]),
    ("Lease", {"spec.leaseTransitions": -1}, ["spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0"]),
    ("Lease", {"metadata.namespace": DELETE}, ["metadata.namespace: Required value"]),
]


def _apply(obj: JSON, changes: dict[str, Any]) -> None:
    for path, value in changes.items():
        if value is DELETE:
            delp(obj, path)
        else:
            setp(obj, path, value)


def _id(case: tuple[str, dict[str, Any], list[str] | None]) -> str:
    kind, changes, _ = case
    return f"{kind}:{','.join(changes)}"[:90]


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_validation_case(case: tuple[str, dict[str, Any], list[str] | None]) -> None:
    kind, changes, expected = case
    obj = BASES[kind]()
    _apply(obj, changes)
    errs = validate(kind, obj)
    if expected is None:
        # Only assert that the field named by the change is reported.
        assert errs, "expected an error"
        first_path = next(iter(changes)).split(".")[0]
        assert all(e.field.startswith(first_path) for e in errs), [str(e) for e in errs]
        return
    assert [str(e) for e in errs] == expected


def test_field_error_shapes() -> None:
    errs = validate("Pod", {"metadata": {"name": "p", "namespace": "d"}, "spec": {"containers": [{"name": "c"}]}})
    assert errs == [FieldError("spec.containers[0].image", "FieldValueRequired")]
    e = errs[0]
    assert e.reason == "FieldValueRequired"
    assert e.to_cause() == {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers[0].image"}
    bad = validate("Pod", {"metadata": {"name": "p", "namespace": "d"},
                           "spec": {"restartPolicy": "X", "containers": [{"name": "c", "image": "i"}]}})
    assert bad[0].type == "FieldValueNotSupported" and bad[0].value == "X"
    assert bad[0].to_cause()["message"] == 'Unsupported value: "X": supported values: "Always", "Never", "OnFailure"'


def test_every_type_has_kubernetes_reason() -> None:
    obj = pod()
    _apply(obj, {f"{C0}.name": "", "spec.restartPolicy": "X", f"{C0}.volumeMounts[0].name": "nope",
                 "spec.volumes": [{"name": "data", "emptyDir": {}}, {"name": "data", "emptyDir": {}}],
                 "spec.activeDeadlineSeconds": 0, "metadata.annotations": {"a": "x" * 300000}})
    types = {e.type for e in validate("Pod", obj)}
    assert types >= {"FieldValueRequired", "FieldValueNotSupported", "FieldValueNotFound",
                     "FieldValueDuplicate", "FieldValueInvalid", "FieldValueTooLong"}


def test_invalid_message() -> None:
    one = [FieldError("spec.containers[0].image", "FieldValueRequired")]
    assert invalid_message("Pod", "p", one) == 'Pod "p" is invalid: spec.containers[0].image: Required value'
    two = [*one, FieldError("spec.replicas", "FieldValueInvalid", "must be greater than or equal to 0", -1)]
    assert invalid_message("Deployment.apps", "d", two + two[:1]) == (
        'Deployment.apps "d" is invalid: [spec.containers[0].image: Required value, '
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0]"
    )
    assert invalid_message("Pod", "p", []) == 'Pod "p" is invalid'


def test_not_a_mapping() -> None:
    assert validate("Pod", "nope") != []  # type: ignore[arg-type]
    assert validate_update("Pod", {}, "nope") != []  # type: ignore[arg-type]


def test_unknown_kind_checks_metadata_only() -> None:
    assert validate("Widget", {"metadata": {"name": "w"}}) == []
    assert [e.field for e in validate("Widget", {"metadata": {"name": "W"}})] == ["metadata.name"]


def test_binding_and_scale() -> None:
    b = {"metadata": {"name": "p", "namespace": "default"}, "target": {"kind": "Node", "name": "n1"}}
    assert validate("Binding", b) == []
    assert [str(e) for e in validate("Binding", {"metadata": {"name": "p", "namespace": "d"}, "target": {"kind": "Pod"}})] == [
        'target.kind: Unsupported value: "Pod": supported values: "Node", "<empty>"',
        "target.name: Required value",
    ]
    assert [str(e) for e in validate("Scale", {"metadata": {"name": "d", "namespace": "x"}, "spec": {"replicas": -1}})] == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    ]


@pytest.mark.parametrize(
    ("name", "label_ok", "subdomain_ok"),
    [
        ("a", True, True),
        ("my-name", True, True),
        ("123-abc", True, True),
        ("example.com", False, True),
        ("A", False, False),
        ("-a", False, False),
        ("a-", False, False),
        ("a_b", False, False),
        ("", False, False),
        ("a" * 63, True, True),
        ("a" * 64, False, True),
        (".".join(["a" * 63] * 4)[:253], False, True),
        ("a" * 254, False, False),
    ],
)
def test_dns1123(name: str, label_ok: bool, subdomain_ok: bool) -> None:
    assert (is_dns1123_label(name) == []) is label_ok
    assert (is_dns1123_subdomain(name) == []) is subdomain_ok


def test_dns_messages() -> None:
    assert is_dns1123_label("A") == [DNS_LABEL_MSG]
    assert is_dns1123_subdomain("A") == [DNS_SUBDOMAIN_MSG]
    assert is_dns1123_label("a" * 64) == ["must be no more than 63 characters"]


# ---- updates -------------------------------------------------------------------


def defaulted(kind: str) -> JSON:
    obj = BASES[kind]()
    apply_defaults(kind, obj)
    obj["metadata"].update(uid="u-1", creationTimestamp="2026-01-01T00:00:00Z")
    return obj


UPDATE_CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("Pod", {}, []),
    ("Pod", {"metadata.labels": {"app": "new"}, "metadata.annotations": {"a": "b"}}, []),
    ("Pod", {f"{C0}.image": "nginx:1.26"}, []),
    ("Pod", {"spec.activeDeadlineSeconds": 30}, []),
    ("Pod", {"spec.nodeName": "node-1"}, []),  # from unset: allowed (binding)
    ("Pod", {"metadata.name": "other"}, ['metadata.name: Invalid value: "other": field is immutable']),
    ("Pod", {"metadata.uid": "u-2"}, ['metadata.uid: Invalid value: "u-2": field is immutable']),
    ("Pod", {"metadata.namespace": "other"}, ['metadata.namespace: Invalid value: "other": field is immutable']),
    ("Pod", {"metadata.creationTimestamp": DELETE, "metadata.uid": DELETE}, []),  # unset means keep
    ("Pod", {"spec.containers[0].ports[0].containerPort": 81}, None),  # type: ignore[list-item]
    ("Pod", {"spec.restartPolicy": "Never"}, None),  # type: ignore[list-item]
    ("Pod", {"spec.containers": []}, ["spec.containers: Forbidden: pod updates may not add or remove containers"]),
    ("Pod", {"spec.tolerations": []},
     ["spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"]),
    ("Deployment", {"spec.replicas": 10, "spec.template.spec.containers[0].image": "nginx:2"}, []),
    ("Deployment", {"spec.selector.matchLabels": {"app": "web", "x": "y"}},
     ['spec.selector: Invalid value: {"matchLabels":{"app":"web","x":"y"}}: field is immutable']),
    ("ReplicaSet", {"spec.selector": {"matchLabels": {"app": "api"}}},
     ['spec.selector: Invalid value: {"matchLabels":{"app":"api"}}: field is immutable']),
    ("Node", {"spec.unschedulable": True, "spec.taints": []}, []),
    ("Node", {"spec.podCIDR": "10.244.2.0/24"},
     ['spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid']),
    ("Namespace", {"metadata.labels": {"a": "b"}}, []),
]


@pytest.mark.parametrize("case", UPDATE_CASES, ids=[_id(c) for c in UPDATE_CASES])  # type: ignore[arg-type]
def test_validate_update(case: tuple[str, dict[str, Any], list[str] | None]) -> None:
    kind, changes, expected = case
    old = defaulted(kind)
    new = copy.deepcopy(old)
    _apply(new, changes)
    errs = validate_update(kind, old, new)
    if expected is None:
        assert [e.field for e in errs] == ["spec"]
        assert errs[0].type == "FieldValueForbidden"
        assert "pod updates may not change fields other than `spec.containers[*].image`" in errs[0].message
        return
    assert [str(e) for e in errs] == expected


def test_pod_update_may_add_tolerations() -> None:
    old = defaulted("Pod")
    new = copy.deepcopy(old)
    new["spec"]["tolerations"].append({"key": "new", "operator": "Exists"})
    assert validate_update("Pod", old, new) == []
    new["spec"]["tolerations"].pop(0)
    assert [e.field for e in validate_update("Pod", old, new)] == ["spec.tolerations"]


def test_pod_update_may_remove_scheduling_gates_only() -> None:
    old = defaulted("Pod")
    old["spec"]["schedulingGates"] = [{"name": "a"}, {"name": "b"}]
    new = copy.deepcopy(old)
    new["spec"]["schedulingGates"] = [{"name": "b"}]
    assert validate_update("Pod", old, new) == []
    del new["spec"]["schedulingGates"]
    assert validate_update("Pod", old, new) == []
    new["spec"]["schedulingGates"] = [{"name": "b"}, {"name": "c"}]
    errs = validate_update("Pod", old, new)
    assert [(e.field, e.type) for e in errs] == [("spec.schedulingGates[1]", "FieldValueForbidden")]
    assert "only deletion is allowed, but found new scheduling gate 'c'" in errs[0].message


def test_pod_update_node_name_and_deadline_rules() -> None:
    old = defaulted("Pod")
    old["spec"]["nodeName"] = "node-1"
    old["spec"]["activeDeadlineSeconds"] = 60
    new = copy.deepcopy(old)
    new["spec"]["nodeName"] = "node-2"
    assert [e.field for e in validate_update("Pod", old, new)] == ["spec"]
    new = copy.deepcopy(old)
    new["spec"]["activeDeadlineSeconds"] = 120
    assert [str(e) for e in validate_update("Pod", old, new)] == [
        "spec.activeDeadlineSeconds: Invalid value: 120: must be less than or equal to previous value"
    ]
    del new["spec"]["activeDeadlineSeconds"]
    assert [str(e) for e in validate_update("Pod", old, new)] == [
        'spec.activeDeadlineSeconds: Invalid value: "null": must not update from a positive integer to nil value'
    ]
    new["spec"]["activeDeadlineSeconds"] = 30
    assert validate_update("Pod", old, new) == []


def test_pod_spec_memo_never_hides_an_error() -> None:
    from api.validation import memo_key, remember_valid_spec

    p = pod()
    apply_defaults("Pod", p)
    assert validate("Pod", p) == []
    remember_valid_spec(memo_key(p["spec"]))  # as admission does once the pod passed
    assert validate("Pod", p) == []  # from the memo
    # The same dict changed in place is a different key: still checked.
    p["spec"]["containers"][0]["image"] = ""
    assert [e.field for e in validate("Pod", p)] == ["spec.containers[0].image"]
    # A memoized spec does not excuse the metadata.
    q = pod()
    apply_defaults("Pod", q)
    q["metadata"]["name"] = "Bad_Name"
    assert [e.field for e in validate("Pod", q)] == ["metadata.name"]
    # Keys that might stand for different values are never trusted.
    assert memo_key({"a": float("nan")}) is None and memo_key({"a": None}) is None
    assert memo_key({"a": 2**70}) is None and memo_key([1]) is None
    assert memo_key({"a": 1}) != memo_key({"a": 1.0}) != memo_key({"a": True})


@pytest.mark.parametrize("kind", ["DaemonSet", "StatefulSet"])
def test_always_running_template(kind: str) -> None:
    """DaemonSet and StatefulSet templates: restartPolicy Always only, no
    activeDeadlineSeconds (the same check as ReplicaSet's, naming the kind)."""
    labels = {"app": "x"}
    obj: JSON = {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "x"}, "spec": {
        "selector": {"matchLabels": labels}, "serviceName": "x", "template": {
            "metadata": {"labels": labels},
            "spec": {"restartPolicy": "Never", "activeDeadlineSeconds": 10,
                     "containers": [{"name": "c", "image": "busybox"}]}}}}
    if kind == "DaemonSet":
        del obj["spec"]["serviceName"]
    apply_defaults(kind, obj)
    assert [str(e) for e in validate(kind, obj)] == [
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: '
        '"Always"',
        "spec.template.spec.activeDeadlineSeconds: Invalid value: 10: activeDeadlineSeconds "
        f"in {kind} is not Supported"]


def test_limit_range_bounds_in_kubernetes_order() -> None:
    """validateLimitRangeTypes' five comparisons, each where and as Kubernetes reports it."""
    obj: JSON = {"metadata": {"name": "l", "namespace": "d"}, "spec": {"limits": [{
        "type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"},
        "default": {"cpu": "1500m"}, "defaultRequest": {"cpu": "3"}}]}}
    p = "spec.limits[0]"
    assert [str(e) for e in validate("LimitRange", obj)] == [
        f'{p}.min[cpu]: Invalid value: "2": min value 2 is greater than max value 1',
        f'{p}.defaultRequest[cpu]: Invalid value: "3": default request value 3 is greater '
        "than max value 1",
        f'{p}.defaultRequest[cpu]: Invalid value: "3": default request value 3 is greater '
        "than default limit value 1500m",
        f'{p}.default[cpu]: Invalid value: "1500m": default value 1500m is greater than max '
        "value 1",
        f'{p}.default[cpu]: Invalid value: "1500m": min value 2 is greater than default '
        "value 1500m"]
