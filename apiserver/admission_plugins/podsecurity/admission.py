"""The PodSecurity admission plugin (plugin/pkg/admission/security/podsecurity over
k8s.io/pod-security-admission/admission).

- Pods (create, update, and writes through subresources other than exec, attach,
  binding, eviction, log, portforward, proxy and status, so ephemeralcontainers and
  resize are checked): the namespace's ``enforce`` policy refuses a violating pod (403
  ``pods "x" is forbidden: violates PodSecurity "baseline:latest": ...``); ``audit``
  records the violation as an audit annotation; ``warn`` answers with a Warning header.
  An update that changes no container image and adds no ephemeral container is not
  checked again (isSignificantPodUpdate).
- Workloads with a pod template (ReplicationController, PodTemplate, ReplicaSet,
  Deployment, StatefulSet, DaemonSet, Job, CronJob): ``warn`` and ``audit`` only, never
  refused (their pods are).
- Namespaces: invalid pod-security labels are a 422 (on update only when they changed);
  raising the enforce level warns about the existing pods that violate it (at most 3,000
  checked, within a second; one pod per controller first), grouped by reason.

Exemptions from the configuration (usernames, namespaces, runtimeClasses) skip the checks
and say so in the ``pod-security.kubernetes.io/exempt`` audit annotation.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson

from api import resources as api_resources
from apiserver import errors, warning
from apiserver.admission_plugins import (
    CREATE,
    UPDATE,
    AdmissionRequest,
    Plugin,
    register_plugin,
)
from apiserver.admission_plugins.config import plugin_configuration
from apiserver.admission_plugins.podsecurity import api
from apiserver.admission_plugins.podsecurity.checks import (
    APPARMOR_ANNOTATION_PREFIX,
    SECCOMP_CONTAINER_ANNOTATION_PREFIX,
    SECCOMP_POD_ANNOTATION,
)
from apiserver.admission_plugins.podsecurity.config import Configuration, load
from apiserver.admission_plugins.podsecurity.evaluator import AggregateResult, Evaluator
from apiserver.registry import Registry, collection_prefix, object_key

JSONDict = dict[str, Any]

NAME = "PodSecurity"

# defaultPodSpecResources: (group, resource)
POD_SPEC_RESOURCES = frozenset({
    ("", "pods"), ("", "replicationcontrollers"), ("", "podtemplates"),
    ("apps", "replicasets"), ("apps", "deployments"), ("apps", "statefulsets"),
    ("apps", "daemonsets"), ("batch", "jobs"), ("batch", "cronjobs")})
IGNORED_POD_SUBRESOURCES = frozenset({
    "exec", "attach", "binding", "eviction", "log", "portforward", "proxy", "status"})

NAMESPACE_MAX_PODS_TO_CHECK = 3000
NAMESPACE_POD_CHECK_TIMEOUT = 1.0  # seconds

_POLICY_MEMO_MAX = 4096
_RESULT_MEMO_MAX = 2048
# The annotations a check reads (AppArmor and seccomp); the rest of metadata is never read.
_CHECKED_ANNOTATION_PREFIXES = (APPARMOR_ANNOTATION_PREFIX, SECCOMP_POD_ANNOTATION,
                                SECCOMP_CONTAINER_ANNOTATION_PREFIX)


def _d(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def _labels(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return _d(_d(_d(obj).get("metadata")).get("labels"))


def pod_template(resource: tuple[str, str], obj: Mapping[str, Any]
                 ) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    """ExtractPodSpec: the (metadata, spec) a workload stamps its pods from; None when
    it has no template."""
    if resource == ("", "pods"):
        return _d(obj.get("metadata")), _d(obj.get("spec"))
    if resource == ("", "podtemplates"):
        t = obj.get("template")
    elif resource == ("batch", "cronjobs"):
        t = _d(_d(_d(obj.get("spec")).get("jobTemplate")).get("spec")).get("template")
    else:
        t = _d(obj.get("spec")).get("template")
    if not isinstance(t, Mapping):
        return None
    return _d(t.get("metadata")), _d(t.get("spec"))


def _images(spec: Mapping[str, Any], key: str) -> list[Any]:
    cs = spec.get(key)
    return [_d(c).get("image") for c in cs] if isinstance(cs, list) else []


def significant_pod_update(pod: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    """isSignificantPodUpdate: a container's image changed, or an ephemeral container
    was added or changed its image."""
    spec, old_spec = _d(pod.get("spec")), _d(old.get("spec"))
    for key in ("containers", "initContainers"):
        if _images(spec, key) != _images(old_spec, key):
            return True
    old_eph = {_d(c).get("name"): _d(c).get("image")
               for c in old_spec.get("ephemeralContainers") or () if isinstance(c, Mapping)}
    for c in spec.get("ephemeralContainers") or ():
        c = _d(c)
        if c.get("name") not in old_eph or old_eph[c.get("name")] != c.get("image"):
            return True
    return False


def _memo_key(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> bytes | None:
    """The spec's JSON and the checked annotations: equal keys, equal results."""
    ann = _d(meta.get("annotations"))
    checked = sorted((k, v) for k, v in ann.items()
                     if isinstance(k, str) and k.startswith(_CHECKED_ANNOTATION_PREFIXES))
    try:
        return orjson.dumps([spec, checked])
    except (TypeError, orjson.JSONEncodeError):
        return None


def _aggregate(errs: list[api.LabelError]) -> str:
    """utilerrors.NewAggregate's message."""
    msgs = [f'{e.field}: Invalid value: "{e.value}": {e.detail}' for e in errs]
    return msgs[0] if len(msgs) == 1 else "[" + ", ".join(msgs) + "]"


def _annotate(annotations: Mapping[str, str]) -> None:
    for k, v in annotations.items():
        warning.add_audit_annotation(api.AUDIT_ANNOTATION_PREFIX + k, v)


class PodSecurity(Plugin):
    name = NAME
    operations = frozenset({CREATE, UPDATE})

    def __init__(self, state: Any, configuration: Configuration | None = None) -> None:
        self.state = state
        self.config = configuration if configuration is not None else \
            load(plugin_configuration(state, NAME))
        self.evaluator = Evaluator()
        self._policies: dict[tuple[tuple[str, str], ...],
                             tuple[api.Policy, list[api.LabelError]]] = {}
        self._results: dict[tuple[api.LevelVersion, bytes], AggregateResult] = {}

    def handles(self, operation: str, info: Any, subresource: str | None) -> bool:
        if operation not in self.operations:
            return False
        gr = (info.group, info.plural)
        if gr == ("", "namespaces"):
            return subresource is None
        if gr == ("", "pods"):
            return subresource not in IGNORED_POD_SUBRESOURCES
        return gr in POD_SPEC_RESOURCES and subresource is None

    # ---- policy --------------------------------------------------------------------

    def policy(self, labels: Mapping[str, Any]) -> tuple[api.Policy, list[api.LabelError]]:
        """PolicyToEvaluate over the configured defaults, memoized by the labels."""
        key = tuple(sorted((k, str(v)) for k, v in labels.items()
                           if k.startswith(api.LABEL_PREFIX)))
        got = self._policies.get(key)
        if got is None:
            got = api.policy_to_evaluate(dict(key), self.config.defaults)
            if len(self._policies) >= _POLICY_MEMO_MAX:
                self._policies.clear()
            self._policies[key] = got
        return got

    async def _namespace_labels(self, namespace: str) -> Mapping[str, Any]:
        reg: Registry = self.state.registry
        info = api_resources.NAMESPACES
        cache = await reg.fresh_cache(info, 1.0) or reg.cache(info)
        co = cache.get(object_key(info, None, namespace))
        return _labels(co.obj) if co is not None else {}

    # ---- admission -----------------------------------------------------------------

    async def validate(self, req: AdmissionRequest) -> None:
        gr = (req.info.group, req.info.plural)
        if gr == ("", "namespaces"):
            self._validate_namespace(req)
        elif gr == ("", "pods"):
            await self._validate_pod(req)
        else:
            await self._validate_controller(req, gr)

    def _exempt(self, req: AdmissionRequest) -> str | None:
        if req.namespace and req.namespace in self.config.namespaces:
            return "namespace"
        if req.user.name and req.user.name in self.config.usernames:
            return "user"
        return None

    async def _validate_pod(self, req: AdmissionRequest) -> None:
        why = self._exempt(req)
        if why is not None:
            _annotate({api.EXEMPTION_REASON_ANNOTATION: why})
            return
        policy, errs = self.policy(await self._namespace_labels(req.namespace or ""))
        if not errs and policy.fully_privileged():
            _annotate({api.ENFORCED_POLICY_ANNOTATION: str(api.PRIVILEGED_LATEST)})
            return
        pod = req.obj
        if pod is None:
            return
        if req.operation == UPDATE and req.old is not None and \
                not significant_pod_update(pod, req.old):
            return
        self._evaluate(req, policy, errs, _d(pod.get("metadata")), _d(pod.get("spec")),
                       enforce=True)

    async def _validate_controller(self, req: AdmissionRequest,
                                   gr: tuple[str, str]) -> None:
        why = self._exempt(req)
        if why is not None:
            _annotate({api.EXEMPTION_REASON_ANNOTATION: why})
            return
        policy, errs = self.policy(await self._namespace_labels(req.namespace or ""))
        if not errs and policy.warn.level == api.PRIVILEGED and \
                policy.audit.level == api.PRIVILEGED:
            return
        if req.obj is None:
            return
        found = pod_template(gr, req.obj)
        if found is None:
            return
        self._evaluate(req, policy, errs, found[0], found[1], enforce=False)

    def _evaluate(self, req: AdmissionRequest, policy: api.Policy,
                  errs: list[api.LabelError], meta: Mapping[str, Any],
                  spec: Mapping[str, Any], enforce: bool) -> None:
        """EvaluatePod: enforce (pods only), then audit, then warn (unless refused),
        each level:version evaluated once."""
        rc = spec.get("runtimeClassName")
        if isinstance(rc, str) and rc and rc in self.config.runtime_classes:
            _annotate({api.EXEMPTION_REASON_ANNOTATION: "runtimeClass"})
            return
        annotations: dict[str, str] = {}
        if errs:
            annotations["error"] = f"Failed to parse policy: {_aggregate(errs)}"
        results: dict[api.LevelVersion, AggregateResult] = {}
        key: list[bytes | None] = []

        def result(lv: api.LevelVersion) -> AggregateResult:
            r = results.get(lv)
            if r is None:
                if not key:
                    key.append(_memo_key(meta, spec))
                r = results[lv] = self._evaluate_memo(lv, key[0], meta, spec)
            return r

        denied: errors.ApiError | None = None
        if enforce:
            annotations[api.ENFORCED_POLICY_ANNOTATION] = str(policy.enforce)
            r = result(policy.enforce)
            if not r.allowed:
                denied = req.forbidden(
                    f'violates PodSecurity "{policy.enforce}": {r.forbidden_detail()}')
        r = result(policy.audit)
        if not r.allowed:
            annotations[api.AUDIT_VIOLATIONS_ANNOTATION] = \
                f'would violate PodSecurity "{policy.audit}": {r.forbidden_detail()}'
        if denied is None:
            r = result(policy.warn)
            if not r.allowed:
                warning.add_warning(
                    f'would violate PodSecurity "{policy.warn}": {r.forbidden_detail()}')
        _annotate(annotations)
        if denied is not None:
            raise denied

    def _evaluate_memo(self, lv: api.LevelVersion, key: bytes | None,
                       meta: Mapping[str, Any], spec: Mapping[str, Any]) -> AggregateResult:
        """The evaluation, remembered by level:version and the spec (with the annotations
        checks read): the pods of one template share them."""
        if key is None or lv.level == api.PRIVILEGED:
            return self.evaluator.evaluate(lv, meta, spec)
        got = self._results.get((lv, key))
        if got is None:
            got = self.evaluator.evaluate(lv, meta, spec)
            if len(self._results) >= _RESULT_MEMO_MAX:
                self._results.clear()
            self._results[(lv, key)] = got
        return got

    # ---- namespaces ----------------------------------------------------------------

    def _validate_namespace(self, req: AdmissionRequest) -> None:
        ns = req.obj
        if ns is None:
            return
        name = str(_d(ns.get("metadata")).get("name") or req.name or "")
        labels = _labels(ns)
        new_policy, new_errs = self.policy(labels)
        if req.operation == CREATE:
            if new_errs:
                raise errors.invalid(req.info, name, [e.to_cause() for e in new_errs])
            if name in self.config.namespaces:
                self._exempt_namespace_warning(name, new_policy, labels)
            return
        old_policy, old_errs = self.policy(_labels(req.old))
        if new_errs and (not old_errs or new_errs != old_errs):
            raise errors.invalid(req.info, name, [e.to_cause() for e in new_errs])
        if new_policy.enforce == old_policy.enforce or \
                new_policy.enforce.level == api.PRIVILEGED:
            return
        if new_policy.enforce.version == old_policy.enforce.version and \
                api.compare_levels(new_policy.enforce.level, old_policy.enforce.level) < 1:
            return
        if name in self.config.namespaces:
            self._exempt_namespace_warning(name, new_policy, labels)
            return
        for w in self.evaluate_pods_in_namespace(name, new_policy.enforce):
            warning.add_warning(w)

    def _exempt_namespace_warning(self, name: str, policy: api.Policy,
                                  labels: Mapping[str, Any]) -> None:
        if policy.fully_privileged() or policy.equivalent(self.config.defaults):
            return
        parts = []
        for mode, lv in (("enforce", policy.enforce), ("audit", policy.audit),
                         ("warn", policy.warn)):
            label = api.LABEL_PREFIX + mode
            if lv.level != api.PRIVILEGED and (label in labels or f"{label}-version" in labels):
                parts.append(f"{mode}={lv}")
        warning.add_warning(f'namespace "{name}" is exempt from Pod Security, and the policy '
                            f"({', '.join(parts)}) will be ignored")

    def evaluate_pods_in_namespace(self, namespace: str, enforce: api.LevelVersion
                                   ) -> list[str]:
        """EvaluatePodsInNamespace: warnings naming the existing pods the new enforce
        level would refuse, one per reason (the lexically first pod, and how many
        others)."""
        deadline = time.monotonic() + NAMESPACE_POD_CHECK_TIMEOUT
        reg: Registry = self.state.registry
        info = api_resources.PODS
        cos, _ = reg.cache(info).list_objects(None, collection_prefix(info, namespace))
        pods = self._prioritize([co.obj for co in cos])
        total = len(pods)
        pods = pods[:NAMESPACE_MAX_PODS_TO_CHECK]
        checked = len(pods)
        order: list[str] = []
        counts: dict[str, list[Any]] = {}  # reason -> [first pod name, count]
        for i, pod in enumerate(pods):
            r = self.evaluator.evaluate(enforce, _d(pod.get("metadata")), _d(pod.get("spec")))
            if not r.allowed:
                reason = r.forbidden_reason()
                pname = str(_d(pod.get("metadata")).get("name") or "")
                c = counts.get(reason)
                if c is None:
                    counts[reason] = [pname, 1]
                    order.append(reason)
                else:
                    if pname < c[0]:
                        c[0] = pname
                    c[1] += 1
            if time.monotonic() > deadline:
                checked = i + 1
                break
        out = []
        if checked < total:
            out.append(f"new PodSecurity enforce level only checked against the first "
                       f"{checked} of {total} existing pods")
        if order:
            out.append(f'existing pods in namespace "{namespace}" violate the new '
                       f'PodSecurity enforce level "{enforce}"')
        decorated = []
        for reason in order:
            pname, n = counts[reason]
            if n == 1:
                decorated.append(f"{pname}: {reason}")
            elif n == 2:
                decorated.append(f"{pname} (and 1 other pod): {reason}")
            else:
                decorated.append(f"{pname} (and {n - 1} other pods): {reason}")
        return out + sorted(decorated)

    def _prioritize(self, pods: list[JSONDict]) -> list[JSONDict]:
        """prioritizePods: pods of exempt runtime classes dropped; of the pods of one
        controller, the first comes first and the others after every other pod."""
        first: list[JSONDict] = []
        later: list[JSONDict] = []
        seen: set[str] = set()
        for pod in pods:
            rc = _d(pod.get("spec")).get("runtimeClassName")
            if isinstance(rc, str) and rc and rc in self.config.runtime_classes:
                continue
            owner = next((o for o in _d(pod.get("metadata")).get("ownerReferences") or ()
                          if isinstance(o, Mapping) and o.get("controller") is True), None)
            if owner is None:
                first.append(pod)
                continue
            uid = str(owner.get("uid"))
            if uid in seen:
                later.append(pod)
                continue
            seen.add(uid)
            first.append(pod)
        return first + later


register_plugin(NAME, PodSecurity)
