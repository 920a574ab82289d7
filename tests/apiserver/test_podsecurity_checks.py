"""The Pod Security Standards' checks, levels, versions, namespace labels and configuration
(apiserver/admission_plugins/podsecurity), without a server.

Two tables ported from Kubernetes' pod-security-admission: each check's messages (the
reason and detail its unit tests policy/check_*_test.go expect, word for word), and, per
level, a minimal valid pod and the tweaks of test/fixtures_*.go that must pass or fail it
(baseline failures fail restricted too). The admission plugin on a real server, with real
kubectl, is tests/apiserver/test_podsecurity.py.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from apiserver.admission_plugins.podsecurity import checks as c
from apiserver.admission_plugins.podsecurity.api import (
    LATEST_VERSION,
    LevelVersion,
    Policy,
    parse_version,
    policy_to_evaluate,
    v1,
)
from apiserver.admission_plugins.podsecurity.config import load
from apiserver.admission_plugins.podsecurity.evaluator import Evaluator

JSONDict = dict[str, Any]
EV = Evaluator()


def ctr(name: str, **sc: Any) -> JSONDict:
    return {"name": name, "image": "busybox", **({"securityContext": sc} if sc else {})}


def spec(*containers: JSONDict, init: tuple[JSONDict, ...] = (), **kw: Any) -> JSONDict:
    return {"containers": list(containers), "initContainers": list(init), **kw}


# ---- 1. each check's messages (policy/check_*_test.go) ---------------------------------

DROP_ALL = {"drop": ["ALL"]}

MESSAGES: list[tuple[str, Callable[..., Any], JSONDict, JSONDict, str, str]] = [
    ("allowPrivilegeEscalation", c.allow_privilege_escalation_1_8, {}, spec(
        ctr("a"), ctr("b", allowPrivilegeEscalation=None), ctr("c", allowPrivilegeEscalation=True),
        ctr("d", allowPrivilegeEscalation=False)),
     "allowPrivilegeEscalation != false",
     'containers "a", "b", "c" must set securityContext.allowPrivilegeEscalation=false'),
    ("appArmor pod", c.app_armor_profile_1_0, {},
     spec(ctr("a"), securityContext={"appArmorProfile": {"type": "Unconfined"}}),
     "forbidden AppArmor profile", 'pod must not set AppArmor profile type to "Unconfined"'),
    ("appArmor init container", c.app_armor_profile_1_0, {}, spec(
        ctr("a"), init=(ctr("bar", appArmorProfile={"type": "Unconfined"}),)),
     "forbidden AppArmor profile",
     'container "bar" must not set AppArmor profile type to "Unconfined"'),
    ("appArmor annotations", c.app_armor_profile_1_0, {"annotations": {
        "container.apparmor.security.beta.kubernetes.io/b": "unconfined",
        "container.apparmor.security.beta.kubernetes.io/a": "bogus",
        "container.apparmor.security.beta.kubernetes.io/ok": "localhost/x",
        "unrelated": "unconfined"}}, spec(ctr("a"), ctr("b")),
     "forbidden AppArmor profiles",
     'annotations must not set AppArmor profile type to '
     '"container.apparmor.security.beta.kubernetes.io/a="bogus"", '
     '"container.apparmor.security.beta.kubernetes.io/b="unconfined""'),
    ("capabilities baseline", c.capabilities_baseline_1_0, {}, spec(
        ctr("a", capabilities={"add": ["FOO", "BAR"]}), ctr("b", capabilities={"add": ["BAZ"]}),
        ctr("c", capabilities={"add": ["CHOWN"]})),
     "non-default capabilities",
     'containers "a", "b" must not include "BAR", "BAZ", "FOO" in '
     "securityContext.capabilities.add"),
    ("capabilities restricted", c.capabilities_restricted_1_22, {}, spec(
        ctr("a", capabilities={"add": ["FOO", "BAR"]}),
        ctr("b", capabilities={"add": ["BAZ"]}),
        ctr("c", capabilities={"add": ["CHOWN"], "drop": ["ALL", "FOO"]}),
        ctr("d", capabilities={"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]})),
     "unrestricted capabilities",
     'containers "a", "b" must set securityContext.capabilities.drop=["ALL"]; containers '
     '"a", "b", "c" must not include "BAR", "BAZ", "CHOWN", "FOO" in '
     "securityContext.capabilities.add"),
    ("capabilities restricted, no security context", c.capabilities_restricted_1_22, {},
     spec(ctr("a")), "unrestricted capabilities",
     'container "a" must set securityContext.capabilities.drop=["ALL"]'),
    ("host namespaces", c.host_namespaces_1_0, {},
     spec(ctr("a"), hostNetwork=True, hostPID=True, hostIPC=True),
     "host namespaces", "hostNetwork=true, hostPID=true, hostIPC=true"),
    ("hostPath volumes", c.host_path_volumes_1_0, {}, spec(ctr("a"), volumes=[
        {"name": "a", "hostPath": {"path": "/"}}, {"name": "b", "hostPath": {"path": "/x"}},
        {"name": "c", "emptyDir": {}}]),
     "hostPath volumes", 'volumes "a", "b"'),
    ("one host port", c.host_ports_1_0, {}, spec(
        ctr("a") | {"ports": [{"containerPort": 10}]},
        ctr("b") | {"ports": [{"containerPort": 20, "hostPort": 20}]}),
     "hostPort", 'container "b" uses hostPort 20'),
    ("host ports", c.host_ports_1_0, {}, spec(
        ctr("b") | {"ports": [{"hostPort": 20}, {"hostPort": 10}]},
        ctr("c") | {"ports": [{"hostPort": 30}]}),
     "hostPort", 'containers "b", "c" use hostPorts 10, 20, 30'),
    ("probe hosts", c.host_probes_and_host_lifecycle_1_34, {}, spec(
        ctr("a") | {"livenessProbe": {"httpGet": {"host": "localhost", "port": 80}},
                    "readinessProbe": {"tcpSocket": {"host": "127.0.0.1", "port": 80}},
                    "startupProbe": {"httpGet": {"host": "::1", "port": 80}}}),
     "probe or lifecycle host",
     'container "a" uses probe or lifecycle hosts "127.0.0.1", "::1", "localhost"'),
    ("lifecycle host", c.host_probes_and_host_lifecycle_1_34, {}, spec(
        ctr("e") | {"lifecycle": {"preStop": {"httpGet": {"host": "another.invalid.host"}}}}),
     "probe or lifecycle host", 'container "e" uses probe or lifecycle host '
                                '"another.invalid.host"'),
    ("privileged", c.privileged_1_0, {}, spec(
        ctr("a"), ctr("b", privileged=None), ctr("c", privileged=False),
        ctr("d", privileged=True), ctr("e", privileged=True)),
     "privileged", 'containers "d", "e" must not set securityContext.privileged=true'),
    ("procMount", c.proc_mount_1_0, {}, spec(
        ctr("a"), ctr("b", procMount=None), ctr("c", procMount="Default"),
        ctr("d", procMount="Unmasked"), ctr("e", procMount="other")),
     "procMount", 'containers "d", "e" must not set securityContext.procMount to '
                  '"Unmasked", "other"'),
    ("restricted volumes", c.restricted_volumes_1_0, {}, spec(ctr("a"), volumes=[
        {"name": "a", "emptyDir": {}}, {"name": "b", "hostPath": {"path": "/"}},
        {"name": "c", "nfs": {"server": "x", "path": "/"}},
        {"name": "d", "gitRepo": {"repository": "x"}}, {"name": "e"}]),
     "restricted volume types",
     'volumes "b", "c", "d", "e" use restricted volume types "gitRepo", "hostPath", "nfs", '
     '"unknown"'),
    ("runAsNonRoot unset", c.run_as_non_root_1_0, {}, spec(ctr("a")),
     "runAsNonRoot != true", 'pod or container "a" must set securityContext.runAsNonRoot=true'),
    ("runAsNonRoot pod false", c.run_as_non_root_1_0, {},
     spec(ctr("a"), securityContext={"runAsNonRoot": False}),
     "runAsNonRoot != true", "pod must not set securityContext.runAsNonRoot=false"),
    ("runAsNonRoot containers false", c.run_as_non_root_1_0, {}, spec(
        ctr("a"), ctr("b", runAsNonRoot=True), ctr("c", runAsNonRoot=False),
        ctr("d", runAsNonRoot=False), securityContext={"runAsNonRoot": True}),
     "runAsNonRoot != true", 'containers "c", "d" must not set securityContext.runAsNonRoot=false'),
    ("runAsNonRoot fallthrough", c.run_as_non_root_1_0, {}, spec(
        ctr("a"), ctr("b"), ctr("c", runAsNonRoot=True)),
     "runAsNonRoot != true",
     'pod or containers "a", "b" must set securityContext.runAsNonRoot=true'),
    ("runAsUser pod", c.run_as_user_1_23, {}, spec(ctr("a"), securityContext={"runAsUser": 0}),
     "runAsUser=0", "pod must not set runAsUser=0"),
    ("runAsUser containers", c.run_as_user_1_23, {}, spec(
        ctr("a"), ctr("b", runAsUser=1), ctr("c", runAsUser=0), ctr("d", runAsUser=0)),
     "runAsUser=0", 'containers "c", "d" must not set runAsUser=0'),
    ("seLinux pod and containers", c._se_linux(c.SELINUX_TYPES_1_31), {}, spec(
        ctr("a", seLinuxOptions={"type": "container_t"}),
        ctr("d", seLinuxOptions={"type": "container_engine_t"}),
        ctr("e", seLinuxOptions={"type": "bar"}), ctr("f", seLinuxOptions={"user": "bar"}),
        ctr("g", seLinuxOptions={"role": "baz"}),
        securityContext={"seLinuxOptions": {"type": "foo", "user": "bar", "role": "baz"}}),
     "seLinuxOptions",
     'pod and containers "e", "f", "g" set forbidden securityContext.seLinuxOptions: types '
     '"bar", "foo"; user may not be set; role may not be set'),
    ("seLinux bad role", c._se_linux(c.SELINUX_TYPES_1_0), {},
     spec(securityContext={"seLinuxOptions": {"role": "bad"}}),
     "seLinuxOptions", "pod set forbidden securityContext.seLinuxOptions: role may not be set"),
    ("seccomp annotations", c.seccomp_profile_baseline_1_0, {"annotations": {
        "seccomp.security.alpha.kubernetes.io/pod": "unconfined",
        "container.seccomp.security.alpha.kubernetes.io/a": "unconfined",
        "container.seccomp.security.alpha.kubernetes.io/b": "unknown",
        "container.seccomp.security.alpha.kubernetes.io/c": "runtime/default"}},
     spec(ctr("a"), ctr("b"), ctr("c")), "seccompProfile",
     'forbidden annotations container.seccomp.security.alpha.kubernetes.io/a="unconfined", '
     'container.seccomp.security.alpha.kubernetes.io/b="unknown", '
     'seccomp.security.alpha.kubernetes.io/pod="unconfined"'),
    ("seccomp baseline", c.seccomp_profile_baseline_1_19, {}, spec(
        ctr("a"), ctr("b", seccompProfile={"type": "RuntimeDefault"}),
        ctr("c", seccompProfile={"type": "Unconfined"}),
        ctr("d", seccompProfile={"type": "Unconfined"}),
        securityContext={"seccompProfile": {"type": "Unconfined"}}),
     "seccompProfile", 'pod and containers "c", "d" must not set '
                       'securityContext.seccompProfile.type to "Unconfined"'),
    ("seccomp restricted fallthrough", c.seccomp_profile_restricted_1_19, {}, spec(
        ctr("a"), ctr("b"), ctr("c", seccompProfile={"type": "RuntimeDefault"})),
     "seccompProfile", 'pod or containers "a", "b" must set securityContext.seccompProfile.type'
                       ' to "RuntimeDefault" or "Localhost"'),
    ("sysctls", c._sysctls(c.SYSCTLS_ALLOWED_1_0), {}, spec(securityContext={"sysctls": [
        {"name": "a", "value": "1"}, {"name": "kernel.shm_rmid_forced", "value": "0"},
        {"name": "b", "value": "1"}]}),
     "forbidden sysctls", "a, b"),
    ("hostProcess", c.windows_host_process_1_0, {}, spec(
        ctr("a"), ctr("e", windowsOptions={"hostProcess": True}),
        ctr("f", windowsOptions={"hostProcess": True}),
        ctr("g", windowsOptions={"hostProcess": False}),
        securityContext={"windowsOptions": {"hostProcess": True}}),
     "hostProcess", 'pod and containers "e", "f" must not set '
                    "securityContext.windowsOptions.hostProcess=true"),
]


@pytest.mark.parametrize(("name", "fn", "meta", "pod_spec", "reason", "detail"), MESSAGES,
                         ids=[m[0] for m in MESSAGES])
def test_check_messages(name: str, fn: Callable[..., Any], meta: JSONDict, pod_spec: JSONDict,
                        reason: str, detail: str) -> None:
    assert fn(meta, pod_spec) == (reason, detail)


def test_ephemeral_containers_are_checked_from_the_wire() -> None:
    s = spec(ctr("app"), ephemeralContainers=[ctr("debugger", privileged=True)])
    assert c.privileged_1_0({}, s) == (
        "privileged", 'container "debugger" must not set securityContext.privileged=true')
    r = EV.evaluate(LevelVersion("baseline", LATEST_VERSION), {}, s)
    assert r.forbidden_detail() == \
        'privileged (container "debugger" must not set securityContext.privileged=true)'


def test_windows_and_user_namespace_relaxations() -> None:
    restricted = LevelVersion("restricted", LATEST_VERSION)
    win = spec(ctr("a"), os={"name": "windows"}, securityContext={"runAsNonRoot": True})
    assert EV.evaluate(restricted, {}, win).allowed
    assert not EV.evaluate(LevelVersion("restricted", v1(24)), {}, win).allowed
    userns = spec(ctr("a", allowPrivilegeEscalation=False, capabilities=DROP_ALL,
                      runAsUser=0, procMount="Unmasked"),
                  hostUsers=False, securityContext={"seccompProfile": {"type": "RuntimeDefault"}})
    assert EV.evaluate(LevelVersion("baseline", LATEST_VERSION), {}, userns).allowed
    # restricted keeps refusing an unmasked /proc (procMount_restricted overrides it)
    assert EV.evaluate(restricted, {}, userns).reasons == ("procMount",)
    assert EV.evaluate(LevelVersion("restricted", v1(34)), {}, userns).reasons == (
        "procMount", "runAsNonRoot != true", "runAsUser=0")


# ---- 2. pass/fail per level (test/fixtures_*.go) ----------------------------------------

BASELINE_POD: JSONDict = {"metadata": {"name": "p"}, "spec": spec(
    ctr("container1"), init=(ctr("initcontainer1"),))}


def _restricted_pod() -> JSONDict:
    p = copy.deepcopy(BASELINE_POD)
    p["spec"]["securityContext"] = {"runAsNonRoot": True,
                                    "seccompProfile": {"type": "RuntimeDefault"}}
    for k in ("containers", "initContainers"):
        for x in p["spec"][k]:
            x["securityContext"] = {"allowPrivilegeEscalation": False, "capabilities": DROP_ALL}
    return p


RESTRICTED_POD = _restricted_pod()
Tweak = Callable[[JSONDict], None]


def _all(f: Callable[[JSONDict], None]) -> Tweak:
    """A tweak of every container's securityContext."""
    def t(p: JSONDict) -> None:
        for k in ("containers", "initContainers"):
            for x in p["spec"][k]:
                f(x.setdefault("securityContext", {}))
    return t


def _spec(**kw: Any) -> Tweak:
    return lambda p: p["spec"].update(kw)


def _psc(**kw: Any) -> Tweak:
    return lambda p: p["spec"].setdefault("securityContext", {}).update(kw)


def _first(**kw: Any) -> Tweak:
    return lambda p: p["spec"]["containers"][0].update(kw)


def _ann(**kw: str) -> Tweak:
    return lambda p: p["metadata"].setdefault("annotations", {}).update(kw)


# (check, expected substring, failing tweaks, passing tweaks); baseline ones fail restricted too
BASELINE_FIXTURES: list[tuple[str, str, list[Tweak], list[Tweak]]] = [
    ("hostNamespaces", "host namespaces",
     [_spec(hostIPC=True), _spec(hostNetwork=True), _spec(hostPID=True)], []),
    ("privileged", "privileged", [_all(lambda s: s.update(privileged=True))],
     [_all(lambda s: s.update(privileged=False))]),
    ("capabilities_baseline", "non-default capabilities",
     [_all(lambda s: s.update(capabilities={"add": ["NET_RAW"]})),
      _all(lambda s: s.update(capabilities={"add": ["SYS_ADMIN"]}))],
     [_all(lambda s: s.update(capabilities={"add": sorted(c.CAPABILITIES_ALLOWED_1_0)}))]),
    ("hostPathVolumes", "hostPath volumes",
     [_spec(volumes=[{"name": "host", "hostPath": {"path": "/"}}])], []),
    ("hostPorts", "hostPort",
     [_first(ports=[{"containerPort": 12345, "hostPort": 12345}])],
     [_first(ports=[{"containerPort": 12345, "hostPort": 0}])]),
    ("appArmorProfile", "forbidden AppArmor profile",
     [_psc(appArmorProfile={"type": "Unconfined"}),
      _ann(**{"container.apparmor.security.beta.kubernetes.io/container1": "unconfined"})],
     [_psc(appArmorProfile={"type": "RuntimeDefault"}),
      _ann(**{"container.apparmor.security.beta.kubernetes.io/container1": "localhost/foo"})]),
    ("seLinuxOptions", "seLinuxOptions",
     [_psc(seLinuxOptions={"type": "somevalue"}), _psc(seLinuxOptions={"user": "somevalue"}),
      _all(lambda s: s.update(seLinuxOptions={"role": "somevalue"}))],
     [_psc(seLinuxOptions={"type": "container_t", "level": "s0:c1"}),
      _all(lambda s: s.update(seLinuxOptions={"type": "container_engine_t"}))]),
    ("procMount", "procMount", [_all(lambda s: s.update(procMount="Unmasked"))],
     [_all(lambda s: s.update(procMount="Default"))]),
    ("seccompProfile_baseline", "seccompProfile",
     [_psc(seccompProfile={"type": "Unconfined"}),
      _all(lambda s: s.update(seccompProfile={"type": "Unconfined"}))],
     [_psc(seccompProfile={"type": "Localhost", "localhostProfile": "x"})]),
    ("sysctls", "forbidden sysctls", [_psc(sysctls=[{"name": "othersysctl", "value": "1"}])],
     [_psc(sysctls=[{"name": n, "value": "1"} for n in sorted(c.SYSCTLS_ALLOWED_1_37)])]),
    ("windowsHostProcess", "hostProcess",
     [_psc(windowsOptions={"hostProcess": True}),
      _all(lambda s: s.update(windowsOptions={"hostProcess": True}))], []),
    ("hostProbesAndHostLifecycle", "probe or lifecycle host",
     [_first(livenessProbe={"httpGet": {"host": "8.8.8.8", "port": 80}}),
      _first(lifecycle={"postStart": {"tcpSocket": {"host": "x", "port": 80}}})],
     [_first(readinessProbe={"httpGet": {"host": "", "port": 80}})]),
]
RESTRICTED_FIXTURES: list[tuple[str, str, list[Tweak], list[Tweak]]] = [
    ("allowPrivilegeEscalation", "allowPrivilegeEscalation != false",
     [_all(lambda s: s.pop("allowPrivilegeEscalation")),
      _all(lambda s: s.update(allowPrivilegeEscalation=True))], []),
    ("capabilities_restricted", "unrestricted capabilities",
     [_all(lambda s: s.pop("capabilities")),
      _all(lambda s: s.update(capabilities={"drop": ["ALL"], "add": ["CHOWN"]}))],
     [_all(lambda s: s.update(capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}))]),
    ("restrictedVolumes", "restricted volume types",
     [_spec(volumes=[{"name": "v", k: {}}]) for k in ("nfs", "gitRepo", "iscsi", "rbd", "fc")],
     [_spec(volumes=[{"name": "v", k: {}}]) for k in (
         "emptyDir", "configMap", "secret", "projected", "downwardAPI", "csi", "ephemeral",
         "image", "persistentVolumeClaim")]),
    ("runAsNonRoot", "runAsNonRoot != true",
     [_psc(runAsNonRoot=False), _all(lambda s: s.update(runAsNonRoot=False)),
      lambda p: p["spec"]["securityContext"].pop("runAsNonRoot")],
     [_all(lambda s: s.update(runAsNonRoot=True))]),
    ("runAsUser", "runAsUser=0",
     [_psc(runAsUser=0), _all(lambda s: s.update(runAsUser=0))],
     [_psc(runAsUser=1000), _all(lambda s: s.update(runAsUser=1000))]),
    ("seccompProfile_restricted", "seccompProfile",
     [lambda p: p["spec"]["securityContext"].pop("seccompProfile"),
      _all(lambda s: s.update(seccompProfile={"type": "Unconfined"}))],
     [_all(lambda s: s.update(seccompProfile={"type": "RuntimeDefault"}))]),
]


def _cases() -> list[Any]:
    out = []
    for level, fixtures in (("baseline", BASELINE_FIXTURES),
                            ("restricted", RESTRICTED_FIXTURES)):
        for check, substring, fails, passes in fixtures:
            for i, t in enumerate(fails):
                out.append(pytest.param(level, check, t, substring,
                                        id=f"{level}-{check}-fail{i}"))
            for i, t in enumerate(passes):
                out.append(pytest.param(level, check, t, None, id=f"{level}-{check}-pass{i}"))
    return out


# Baseline checks that a restricted one replaces (OverrideCheckIDs): what restricted says.
OVERRIDDEN = {"capabilities_baseline": "unrestricted capabilities",
              "hostPathVolumes": "restricted volume types"}


@pytest.mark.parametrize(("level", "check", "tweak", "substring"), _cases())
def test_fixture_tables(level: str, check: str, tweak: Tweak, substring: str | None) -> None:
    # The tweak applied to the minimal valid pod of its level and of every stricter one.
    for target in (("baseline", "restricted") if level == "baseline" else ("restricted",)):
        if target != level and check in OVERRIDDEN:
            if substring is None:
                continue  # what baseline allows, restricted's own check may not
            substring = OVERRIDDEN[check]
        pod = copy.deepcopy(BASELINE_POD if target == "baseline" else RESTRICTED_POD)
        tweak(pod)
        r = EV.evaluate(LevelVersion(target, LATEST_VERSION), pod["metadata"], pod["spec"])
        if substring is None:
            assert r.allowed, (target, r.forbidden_detail())
        else:
            assert not r.allowed and substring in r.forbidden_reason(), (target, r)
    if level == "baseline" and substring is not None:
        pod = copy.deepcopy(BASELINE_POD)
        tweak(pod)
        assert EV.evaluate(LevelVersion("privileged", LATEST_VERSION), pod["metadata"],
                           pod["spec"]).allowed


def test_minimal_pods() -> None:
    for lv in ("baseline", "restricted"):
        for v in (v1(0), v1(22), v1(37), LATEST_VERSION):
            pod = RESTRICTED_POD if lv == "restricted" else BASELINE_POD
            assert EV.evaluate(LevelVersion(lv, v), pod["metadata"], pod["spec"]).allowed
    # the baseline pod is not restricted
    r = EV.evaluate(LevelVersion("restricted", LATEST_VERSION), {}, BASELINE_POD["spec"])
    assert r.reasons == ("allowPrivilegeEscalation != false", "unrestricted capabilities",
                         "runAsNonRoot != true", "seccompProfile")


# ---- 3. versions ------------------------------------------------------------------------

@pytest.mark.parametrize(("tweak", "last_allowed", "first_refused"), [
    (_psc(sysctls=[{"name": "net.ipv4.tcp_notsent_lowat", "value": "1"}]), None, None),
    (_first(livenessProbe={"httpGet": {"host": "x", "port": 80}}), 33, 34),
    (_all(lambda s: s.update(seLinuxOptions={"type": "container_engine_t"})), 31, 30),
])
def test_versions(tweak: Tweak, last_allowed: int | None, first_refused: int | None) -> None:
    pod = copy.deepcopy(BASELINE_POD)
    tweak(pod)

    def ok(v: str) -> bool:
        return EV.evaluate(LevelVersion("baseline", parse_version(v)), {}, pod["spec"]).allowed

    if last_allowed is None:  # a sysctl allowed from v1.37
        assert not ok("v1.36") and ok("v1.37") and ok("latest") and ok("v1.99")
    elif last_allowed < (first_refused or 0):  # a check that appears
        assert ok(f"v1.{last_allowed}") and not ok(f"v1.{first_refused}") and not ok("latest")
    else:  # a value allowed from a version
        assert ok(f"v1.{last_allowed}") and not ok(f"v1.{first_refused}") and ok("latest")


def test_evaluator_order_and_future_versions() -> None:
    assert EV.max_version == v1(37)
    assert EV.checks_for(LevelVersion("baseline", v1(99))) == \
        EV.checks_for(LevelVersion("baseline", LATEST_VERSION))
    assert EV.checks_for(LevelVersion("privileged", LATEST_VERSION)) == ()
    assert Evaluator(emulation_version=v1(40)).max_version == v1(40)
    bad = c.Check("x", "baseline", (c.VersionedCheck(v1(2), c.privileged_1_0),
                                    c.VersionedCheck(v1(1), c.privileged_1_0)))
    with pytest.raises(ValueError, match="strictly increasing"):
        Evaluator([bad])


# ---- 4. namespace labels (api.PolicyToEvaluate) ----------------------------------------

P = "pod-security.kubernetes.io/"


def test_policy_from_labels() -> None:
    default = Policy()
    p, errs = policy_to_evaluate({P + "enforce": "baseline", P + "audit": "restricted",
                                  P + "audit-version": "v1.25", "other": "x"}, default)
    assert not errs
    assert (str(p.enforce), str(p.audit), str(p.warn)) == \
        ("baseline:latest", "restricted:v1.25", "baseline:latest")  # warn follows enforce
    p, _ = policy_to_evaluate({P + "enforce": "restricted", P + "enforce-version": "v1.24",
                               P + "warn-version": "v1.30"}, default)
    assert str(p.warn) == "restricted:v1.30"
    p, _ = policy_to_evaluate({P + "enforce": "baseline", P + "warn": "privileged"}, default)
    assert str(p.warn) == "privileged:latest"
    assert policy_to_evaluate({}, default) == (default, [])


def test_invalid_labels() -> None:
    p, errs = policy_to_evaluate({P + "enforce": "bogus", P + "enforce-version": "1.25",
                                  P + "warn": "nope"}, Policy())
    assert str(p.enforce) == "restricted:latest" and str(p.warn) == "privileged:latest"
    assert [e.to_cause() for e in errs] == [
        {"reason": "FieldValueInvalid", "field": f"metadata.labels[{P}enforce]",
         "message": 'Invalid value: "bogus": must be one of privileged, baseline, restricted'},
        {"reason": "FieldValueInvalid", "field": f"metadata.labels[{P}enforce-version]",
         "message": 'Invalid value: "1.25": must be "latest" or "v1.x"'},
        {"reason": "FieldValueInvalid", "field": f"metadata.labels[{P}warn]",
         "message": 'Invalid value: "nope": must be one of privileged, baseline, restricted'}]
    for bad in ("v1.025", "v2.0", "v1", "latest1"):
        _, errs = policy_to_evaluate({P + "audit-version": bad}, Policy())
        assert errs, bad


# ---- 5. PodSecurityConfiguration ---------------------------------------------------------

def test_configuration_defaults_and_exemptions() -> None:
    cfg = load(None)
    assert cfg.defaults.fully_privileged() and not cfg.namespaces
    cfg = load({"apiVersion": "pod-security.admission.config.k8s.io/v1",
                "kind": "PodSecurityConfiguration",
                "defaults": {"enforce": "baseline", "audit-version": "v1.30"},
                "exemptions": {"usernames": ["admin"], "namespaces": ["kube-system"],
                               "runtimeClasses": ["kata"]}})
    assert (str(cfg.defaults.enforce), str(cfg.defaults.audit), str(cfg.defaults.warn)) == \
        ("baseline:latest", "privileged:v1.30", "privileged:latest")
    assert cfg.usernames == {"admin"} and cfg.namespaces == {"kube-system"} and \
        cfg.runtime_classes == {"kata"}


def test_configuration_errors() -> None:
    with pytest.raises(ValueError, match="expected PodSecurityConfiguration"):
        load({"apiVersion": "v1", "kind": "ConfigMap"})
    with pytest.raises(ValueError) as e:
        load({"apiVersion": "pod-security.admission.config.k8s.io/v1beta1",
              "kind": "PodSecurityConfiguration",
              "defaults": {"enforce": "strict", "warn-version": "v2"},
              "exemptions": {"namespaces": ["ok", "Bad_NS", "ok"], "usernames": [""]}})
    msg = str(e.value)
    for part in ('defaults.enforce: Invalid value: "strict": must be one of privileged, '
                 "baseline, restricted",
                 'defaults.warn-version: Invalid value: "v2": must be "latest" or "v1.x"',
                 'exemptions.namespaces[1]: Invalid value: "Bad_NS": a lowercase RFC 1123 label',
                 'exemptions.namespaces[2]: Duplicate value: "ok"',
                 'exemptions.usernames[0]: Invalid value: "": username must not be empty'):
        assert part in msg, msg


def test_plugin_memo_keys_on_spec_and_checked_annotations() -> None:
    from apiserver.admission_plugins.podsecurity.admission import _memo_key

    s = spec(ctr("a"))
    seccomp = {"annotations": {"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}}
    assert _memo_key({"annotations": {"app": "x"}}, s) == _memo_key({}, s)
    assert _memo_key(seccomp, s) != _memo_key({}, s)
    assert _memo_key({}, spec(ctr("a"), hostPID=True)) != _memo_key({}, s)
