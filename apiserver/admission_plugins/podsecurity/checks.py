"""The Pod Security Standards' checks (k8s.io/pod-security-admission/policy/check_*.go),
on wire dicts.

Each check has an ID, a level (baseline checks run for baseline and restricted, restricted
ones for restricted only) and versions: the policy version from which each revision
applies (a restricted revision may override baseline checks it supersedes). A check
function takes the pod's (or template's) metadata and spec and returns ``None`` when the
pod is allowed, else (reason, detail): ``hostPath volumes``, ``volume "host"``. Reasons,
details, orders and plurals are Kubernetes' own, so that messages match theirs.

Containers are visited as Kubernetes does: init containers, containers, then ephemeral
containers (read from the wire, whether or not the model knows them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from apiserver.admission_plugins.podsecurity.api import BASELINE, RESTRICTED, Version, v1

JSONDict = dict[str, Any]
Result = tuple[str, str] | None
CheckFn = Callable[[Mapping[str, Any], Mapping[str, Any]], Result]


@dataclass(frozen=True)
class VersionedCheck:
    minimum_version: Version
    check: CheckFn
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Check:
    id: str
    level: str
    versions: tuple[VersionedCheck, ...] = field(default_factory=tuple)


# ---- helpers (policy/helpers.go, visitor.go) ------------------------------------------

def join_quote(items: list[str]) -> str:
    return '"' + '", "'.join(items) + '"' if items else ""


def go_quote(s: str) -> str:
    """Go's %q for the printable strings annotations hold."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def pluralize(singular: str, plural: str, count: int) -> str:
    return singular if count == 1 else plural


def _d(v: Any) -> Mapping[str, Any] | None:
    return v if isinstance(v, Mapping) else None


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def containers(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """visitContainers: init containers, containers, ephemeral containers."""
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in _list(spec.get(key)):
            if isinstance(c, Mapping):
                yield c


def _name(c: Mapping[str, Any]) -> str:
    n = c.get("name")
    return n if isinstance(n, str) else ""


def _sc(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return _d(obj.get("securityContext"))


def _str(v: Any) -> str:
    return v if isinstance(v, str) else ""


def _is_windows(spec: Mapping[str, Any]) -> bool:
    os_ = _d(spec.get("os"))
    return os_ is not None and os_.get("name") == "windows"


def _user_namespace(spec: Mapping[str, Any]) -> bool:
    """relaxPolicyForUserNamespacePod: hostUsers: false."""
    return spec.get("hostUsers") is False


def _annotations(meta: Mapping[str, Any]) -> Mapping[str, Any]:
    return _d(meta.get("annotations")) or {}


def _setters(pod_bad: bool, bad_containers: list[str]) -> list[str]:
    out = ["pod"] if pod_bad else []
    if bad_containers:
        out.append(f"{pluralize('container', 'containers', len(bad_containers))} "
                   f"{join_quote(bad_containers)}")
    return out


# ---- baseline --------------------------------------------------------------------------

def _allowed_apparmor_type(t: Any) -> bool:
    return t in ("RuntimeDefault", "Localhost")


APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"


def app_armor_profile_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Result:
    bad_setters: list[str] = []
    bad_values: set[str] = set()
    psc = _sc(spec)
    prof = _d(psc.get("appArmorProfile")) if psc else None
    if prof is not None and not _allowed_apparmor_type(prof.get("type")):
        bad_setters.append("pod")
        bad_values.add(_str(prof.get("type")))
    bad: list[str] = []
    for c in containers(spec):
        sc = _sc(c)
        cp = _d(sc.get("appArmorProfile")) if sc else None
        if cp is not None and not _allowed_apparmor_type(cp.get("type")):
            bad.append(_name(c))
            bad_values.add(_str(cp.get("type")))
    if bad:
        bad_setters.append(f"{pluralize('container', 'containers', len(bad))} {join_quote(bad)}")
    forbidden = sorted(
        f"{k}={go_quote(v)}" for k, v in _annotations(meta).items()
        if k.startswith(APPARMOR_ANNOTATION_PREFIX) and isinstance(v, str) and not (
            v == "" or v == "runtime/default" or v.startswith("localhost/")))
    values = sorted(bad_values) + forbidden
    if forbidden:
        bad_setters.append(pluralize("annotation", "annotations", len(forbidden)))
    if bad_setters:
        return (pluralize("forbidden AppArmor profile", "forbidden AppArmor profiles",
                          len(values)),
                f"{' and '.join(bad_setters)} must not set AppArmor profile type to "
                f"{join_quote(values)}")
    return None


CAPABILITIES_ALLOWED_1_0 = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})


def _caps(c: Mapping[str, Any]) -> Mapping[str, Any] | None:
    sc = _sc(c)
    return _d(sc.get("capabilities")) if sc else None


def capabilities_baseline_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Result:
    bad: list[str] = []
    caps: set[str] = set()
    for c in containers(spec):
        cap = _caps(c)
        if cap is None:
            continue
        valid = True
        for a in _list(cap.get("add")):
            if a not in CAPABILITIES_ALLOWED_1_0:
                valid = False
                caps.add(_str(a))
        if not valid:
            bad.append(_name(c))
    if bad:
        return ("non-default capabilities",
                f"{pluralize('container', 'containers', len(bad))} {join_quote(bad)} must "
                f"not include {join_quote(sorted(caps))} in securityContext.capabilities.add")
    return None


def host_namespaces_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Result:
    found = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k) is True]
    return ("host namespaces", ", ".join(found)) if found else None


def host_path_volumes_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Result:
    vols = [_name(v) for v in _list(spec.get("volumes"))
            if isinstance(v, Mapping) and v.get("hostPath") is not None]
    if vols:
        return "hostPath volumes", f"{pluralize('volume', 'volumes', len(vols))} {join_quote(vols)}"
    return None


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def host_ports_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Result:
    bad: list[str] = []
    ports: set[str] = set()
    for c in containers(spec):
        valid = True
        for p in _list(c.get("ports")):
            hp = _int(p.get("hostPort")) if isinstance(p, Mapping) else 0
            if hp != 0:
                valid = False
                ports.add(str(hp))
        if not valid:
            bad.append(_name(c))
    if bad:
        return ("hostPort",
                f"{pluralize('container', 'containers', len(bad))} {join_quote(bad)} "
                f"{pluralize('uses', 'use', len(bad))} "
                f"{pluralize('hostPort', 'hostPorts', len(ports))} {', '.join(sorted(ports))}")
    return None


def _handler_hosts(h: Any) -> list[str]:
    h = _d(h)
    if h is None:
        return []
    out = []
    for k in ("httpGet", "tcpSocket"):
        a = _d(h.get(k))
        if a is not None and _str(a.get("host")):
            out.append(_str(a.get("host")))
    return out


def host_probes_and_host_lifecycle_1_34(meta: Mapping[str, Any],
                                        spec: Mapping[str, Any]) -> Result:
    bad: set[str] = set()
    hosts: set[str] = set()
    for c in containers(spec):
        lc = _d(c.get("lifecycle")) or {}
        for h in (c.get("livenessProbe"), c.get("readinessProbe"), c.get("startupProbe"),
                  lc.get("postStart"), lc.get("preStop")):
            found = _handler_hosts(h)
            if found:
                bad.add(_name(c))
                hosts.update(found)
    if bad:
        return ("probe or lifecycle host",
                f"{pluralize('container', 'containers', len(bad))} {join_quote(sorted(bad))} "
                f"{pluralize('uses', 'use', len(bad))} "
                f"{pluralize('probe or lifecycle host', 'probe or lifecycle hosts', len(hosts))} "
                f"{join_quote(sorted(hosts))}")
    return None


def privileged_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Result:
    bad = [_name(c) for c in containers(spec) if (_sc(c) or {}).get("privileged") is True]
    if bad:
        return ("privileged",
                f"{pluralize('container', 'containers', len(bad))} {join_quote(bad)} must not "
                f"set securityContext.privileged=true")
    return None


def proc_mount_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Result:
    bad: list[str] = []
    types: set[str] = set()
    for c in containers(spec):
        sc = _sc(c)
        if sc is None or sc.get("procMount") is None:
            continue
        if sc.get("procMount") != "Default":
            bad.append(_name(c))
            types.add(_str(sc.get("procMount")))
    if bad:
        return ("procMount",
                f"{pluralize('container', 'containers', len(bad))} {join_quote(bad)} must not "
                f"set securityContext.procMount to {join_quote(sorted(types))}")
    return None


def proc_mount_1_35_baseline(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Result:
    return None if _user_namespace(spec) else proc_mount_1_0(meta, spec)


SELINUX_TYPES_1_0 = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
SELINUX_TYPES_1_31 = SELINUX_TYPES_1_0 | {"container_engine_t"}


def _se_linux(allowed: frozenset[str]) -> CheckFn:
    def check(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Result:
        bad_types: set[str] = set()
        flags = {"user": False, "role": False}

        def valid(opts: Mapping[str, Any]) -> bool:
            ok = True
            t = _str(opts.get("type"))
            if t not in allowed:
                ok = False
                bad_types.add(t)
            for k in ("user", "role"):
                if _str(opts.get(k)):
                    ok = False
                    flags[k] = True
            return ok

        psc = _sc(spec)
        popts = _d(psc.get("seLinuxOptions")) if psc else None
        pod_bad = popts is not None and not valid(popts)
        bad: list[str] = []
        for c in containers(spec):
            sc = _sc(c)
            opts = _d(sc.get("seLinuxOptions")) if sc else None
            if opts is not None and not valid(opts):
                bad.append(_name(c))
        setters = _setters(pod_bad, bad)
        if setters:
            data = []
            if bad_types:
                data.append(f"{pluralize('type', 'types', len(bad_types))} "
                            f"{join_quote(sorted(bad_types))}")
            if flags["user"]:
                data.append("user may not be set")
            if flags["role"]:
                data.append("role may not be set")
            return ("seLinuxOptions",
                    f"{' and '.join(setters)} set forbidden securityContext.seLinuxOptions: "
                    f"{'; '.join(data)}")
        return None

    return check


SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_ANNOTATION_PREFIX = "container.seccomp.security.alpha.kubernetes.io/"


def _valid_seccomp(t: Any) -> bool:
    return t in ("Localhost", "RuntimeDefault")


def _valid_seccomp_annotation(v: Any) -> bool:
    return isinstance(v, str) and (v in ("runtime/default", "docker/default")
                                   or v.startswith("localhost/"))


def seccomp_profile_baseline_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Result:
    ann = _annotations(meta)
    forbidden: set[str] = set()
    if SECCOMP_POD_ANNOTATION in ann and not _valid_seccomp_annotation(
            ann[SECCOMP_POD_ANNOTATION]):
        forbidden.add(f"{SECCOMP_POD_ANNOTATION}={go_quote(_str(ann[SECCOMP_POD_ANNOTATION]))}")
    for c in containers(spec):
        key = SECCOMP_CONTAINER_ANNOTATION_PREFIX + _name(c)
        if key in ann and not _valid_seccomp_annotation(ann[key]):
            forbidden.add(f"{key}={go_quote(_str(ann[key]))}")
    if forbidden:
        return ("seccompProfile",
                f"forbidden {pluralize('annotation', 'annotations', len(forbidden))} "
                f"{', '.join(sorted(forbidden))}")
    return None


def _seccomp(spec: Mapping[str, Any], restricted: bool) -> Result:
    bad_values: set[str] = set()
    psc = _sc(spec)
    pprof = _d(psc.get("seccompProfile")) if psc else None
    pod_bad = pprof is not None and not _valid_seccomp(pprof.get("type"))
    pod_set = pprof is not None and not pod_bad
    if pod_bad:
        assert pprof is not None
        bad_values.add(_str(pprof.get("type")))
    explicit: list[str] = []
    implicit: list[str] = []
    for c in containers(spec):
        sc = _sc(c)
        prof = _d(sc.get("seccompProfile")) if sc else None
        if prof is not None:
            if not _valid_seccomp(prof.get("type")):
                explicit.append(_name(c))
                bad_values.add(_str(prof.get("type")))
        elif not pod_set:
            implicit.append(_name(c))
    setters = _setters(pod_bad, explicit)
    if setters:
        return ("seccompProfile",
                f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to "
                f"{join_quote(sorted(bad_values))}")
    if restricted and implicit:
        return ("seccompProfile",
                f"pod or {pluralize('container', 'containers', len(implicit))} "
                f"{join_quote(implicit)} must set securityContext.seccompProfile.type to "
                f'"RuntimeDefault" or "Localhost"')
    return None


def seccomp_profile_baseline_1_19(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Result:
    return _seccomp(spec, restricted=False)


SYSCTLS_ALLOWED_1_0 = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"})
SYSCTLS_ALLOWED_1_27 = SYSCTLS_ALLOWED_1_0 | {"net.ipv4.ip_local_reserved_ports"}
SYSCTLS_ALLOWED_1_29 = SYSCTLS_ALLOWED_1_27 | {
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes"}
SYSCTLS_ALLOWED_1_32 = SYSCTLS_ALLOWED_1_29 | {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}
SYSCTLS_ALLOWED_1_37 = SYSCTLS_ALLOWED_1_32 | {
    "net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"}


def _sysctls(allowed: frozenset[str]) -> CheckFn:
    def check(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Result:
        psc = _sc(spec)
        bad = [_str(s.get("name")) for s in _list(psc.get("sysctls") if psc else None)
               if isinstance(s, Mapping) and s.get("name") not in allowed]
        return ("forbidden sysctls", ", ".join(bad)) if bad else None

    return check


def _host_process(sc: Mapping[str, Any] | None) -> bool:
    wo = _d(sc.get("windowsOptions")) if sc else None
    return wo is not None and wo.get("hostProcess") is True


def windows_host_process_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Result:
    bad = [_name(c) for c in containers(spec) if _host_process(_sc(c))]
    setters = _setters(_host_process(_sc(spec)), bad)
    if setters:
        return ("hostProcess", f"{' and '.join(setters)} must not set "
                               f"securityContext.windowsOptions.hostProcess=true")
    return None


# ---- restricted ------------------------------------------------------------------------

def allow_privilege_escalation_1_8(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Result:
    bad = [_name(c) for c in containers(spec)
           if (_sc(c) or {}).get("allowPrivilegeEscalation") is not False]
    if bad:
        return ("allowPrivilegeEscalation != false",
                f"{pluralize('container', 'containers', len(bad))} {join_quote(bad)} must set "
                f"securityContext.allowPrivilegeEscalation=false")
    return None


def _not_windows(check: CheckFn) -> CheckFn:
    """The 1.25 revisions: a pod with spec.os.name windows passes."""
    def wrapped(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Result:
        return None if _is_windows(spec) else check(meta, spec)

    return wrapped


def _user_ns_relaxed(check: CheckFn) -> CheckFn:
    """The 1.35 revisions: a pod in a user namespace (hostUsers: false) passes."""
    def wrapped(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Result:
        return None if _user_namespace(spec) else check(meta, spec)

    return wrapped


def capabilities_restricted_1_22(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Result:
    missing_drop: list[str] = []
    adding: list[str] = []
    caps: set[str] = set()
    for c in containers(spec):
        cap = _caps(c)
        if cap is None:
            missing_drop.append(_name(c))
            continue
        if "ALL" not in _list(cap.get("drop")):
            missing_drop.append(_name(c))
        added = False
        for a in _list(cap.get("add")):
            if a != "NET_BIND_SERVICE":
                added = True
                caps.add(_str(a))
        if added:
            adding.append(_name(c))
    details = []
    if missing_drop:
        details.append(f"{pluralize('container', 'containers', len(missing_drop))} "
                       f"{join_quote(missing_drop)} must set "
                       f'securityContext.capabilities.drop=["ALL"]')
    if adding:
        details.append(f"{pluralize('container', 'containers', len(adding))} "
                       f"{join_quote(adding)} must not include {join_quote(sorted(caps))} in "
                       f"securityContext.capabilities.add")
    return ("unrestricted capabilities", "; ".join(details)) if details else None


_RESTRICTED_VOLUME_SOURCES_ALLOWED = ("configMap", "csi", "downwardAPI", "emptyDir",
                                      "ephemeral", "image", "persistentVolumeClaim",
                                      "projected", "secret")
_RESTRICTED_VOLUME_TYPES = (
    "hostPath", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "nfs", "iscsi",
    "glusterfs", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "fc", "azureFile",
    "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "portworxVolume",
    "scaleIO", "storageos")


def restricted_volumes_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Result:
    bad: list[str] = []
    types: set[str] = set()
    for v in _list(spec.get("volumes")):
        if not isinstance(v, Mapping):
            continue
        if any(v.get(k) is not None for k in _RESTRICTED_VOLUME_SOURCES_ALLOWED):
            continue
        bad.append(_name(v))
        types.add(next((k for k in _RESTRICTED_VOLUME_TYPES if v.get(k) is not None),
                       "unknown"))
    if bad:
        return ("restricted volume types",
                f"{pluralize('volume', 'volumes', len(bad))} {join_quote(bad)} "
                f"{pluralize('uses', 'use', len(bad))} "
                f"{pluralize('restricted volume type', 'restricted volume types', len(types))} "
                f"{join_quote(sorted(types))}")
    return None


def run_as_non_root_1_0(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Result:
    psc = _sc(spec)
    pv = psc.get("runAsNonRoot") if psc else None
    pod_bad = pv is False
    pod_ok = pv is True
    explicit: list[str] = []
    implicit: list[str] = []
    for c in containers(spec):
        v = (_sc(c) or {}).get("runAsNonRoot")
        if v is not None:
            if v is False:
                explicit.append(_name(c))
        elif not pod_ok:
            implicit.append(_name(c))
    setters = _setters(pod_bad, explicit)
    if setters:
        return ("runAsNonRoot != true",
                f"{' and '.join(setters)} must not set securityContext.runAsNonRoot=false")
    if implicit:
        return ("runAsNonRoot != true",
                f"pod or {pluralize('container', 'containers', len(implicit))} "
                f"{join_quote(implicit)} must set securityContext.runAsNonRoot=true")
    return None


def _root(sc: Mapping[str, Any] | None) -> bool:
    v = sc.get("runAsUser") if sc else None
    return isinstance(v, int) and not isinstance(v, bool) and v == 0


def run_as_user_1_23(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> Result:
    bad = [_name(c) for c in containers(spec) if _root(_sc(c))]
    setters = _setters(_root(_sc(spec)), bad)
    if setters:
        return "runAsUser=0", f"{' and '.join(setters)} must not set runAsUser=0"
    return None


def seccomp_profile_restricted_1_19(meta: Mapping[str, Any],
                                    spec: Mapping[str, Any]) -> Result:
    return _seccomp(spec, restricted=True)


# ---- the registry's contents (DefaultChecks) ------------------------------------------

def _v(minor: int, fn: CheckFn, *overrides: str) -> VersionedCheck:
    return VersionedCheck(v1(minor), fn, overrides)


DEFAULT_CHECKS: tuple[Check, ...] = (
    Check("allowPrivilegeEscalation", RESTRICTED, (
        _v(8, allow_privilege_escalation_1_8),
        _v(25, _not_windows(allow_privilege_escalation_1_8)))),
    Check("appArmorProfile", BASELINE, (_v(0, app_armor_profile_1_0),)),
    Check("capabilities_baseline", BASELINE, (_v(0, capabilities_baseline_1_0),)),
    Check("capabilities_restricted", RESTRICTED, (
        _v(22, capabilities_restricted_1_22, "capabilities_baseline"),
        _v(25, _not_windows(capabilities_restricted_1_22), "capabilities_baseline"))),
    Check("hostNamespaces", BASELINE, (_v(0, host_namespaces_1_0),)),
    Check("hostPathVolumes", BASELINE, (_v(0, host_path_volumes_1_0),)),
    Check("hostPorts", BASELINE, (_v(0, host_ports_1_0),)),
    Check("hostProbesAndHostLifecycle", BASELINE, (
        _v(34, host_probes_and_host_lifecycle_1_34),)),
    Check("privileged", BASELINE, (_v(0, privileged_1_0),)),
    Check("procMount", BASELINE, (_v(0, proc_mount_1_0), _v(35, proc_mount_1_35_baseline))),
    Check("procMount_restricted", RESTRICTED, (_v(35, proc_mount_1_0, "procMount"),)),
    Check("restrictedVolumes", RESTRICTED, (
        _v(0, restricted_volumes_1_0, "hostPathVolumes"),)),
    Check("runAsNonRoot", RESTRICTED, (
        _v(0, run_as_non_root_1_0), _v(35, _user_ns_relaxed(run_as_non_root_1_0)))),
    Check("runAsUser", RESTRICTED, (
        _v(23, run_as_user_1_23), _v(35, _user_ns_relaxed(run_as_user_1_23)))),
    Check("seLinuxOptions", BASELINE, (
        _v(0, _se_linux(SELINUX_TYPES_1_0)), _v(31, _se_linux(SELINUX_TYPES_1_31)))),
    Check("seccompProfile_baseline", BASELINE, (
        _v(0, seccomp_profile_baseline_1_0), _v(19, seccomp_profile_baseline_1_19))),
    Check("seccompProfile_restricted", RESTRICTED, (
        _v(19, seccomp_profile_restricted_1_19, "seccompProfile_baseline"),
        _v(25, _not_windows(seccomp_profile_restricted_1_19), "seccompProfile_baseline"))),
    Check("sysctls", BASELINE, (
        _v(0, _sysctls(SYSCTLS_ALLOWED_1_0)), _v(27, _sysctls(SYSCTLS_ALLOWED_1_27)),
        _v(29, _sysctls(SYSCTLS_ALLOWED_1_29)), _v(32, _sysctls(SYSCTLS_ALLOWED_1_32)),
        _v(37, _sysctls(SYSCTLS_ALLOWED_1_37)))),
    Check("windowsHostProcess", BASELINE, (_v(0, windows_host_process_1_0),)),
)
