"""certificates.k8s.io/v1 CertificateSigningRequests (pkg/registry/certificates/certificates):
on create the requester's identity is recorded in the spec (username, uid, groups, extra) and
the status starts empty; the spec never changes after (an update keeps the stored one); a
main-resource write changes neither the approval nor the certificate, /status (the signer)
neither the spec nor Approved/Denied, /approval only Approved/Denied; conditions get their
lastUpdateTime/lastTransitionTime. Table as printers.go printCertificateSigningRequest."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.timeutil import human_duration, now
from apiserver.auth import context
from apiserver.strategies.base import AGE, NAME, JSONDict, Row, Strategy, age_of, column, meta

_APPROVAL = ("Approved", "Denied")


def _status(obj: JSONDict) -> JSONDict:
    st = obj.get("status")
    return st if isinstance(st, dict) else {}


def _conditions(obj: JSONDict) -> list[JSONDict]:
    conds = _status(obj).get("conditions")
    return [c for c in conds if isinstance(c, dict)] if isinstance(conds, list) else []


def csr_condition(obj: JSONDict) -> str:
    """extractCSRStatus: Denied, Approved or Pending, then ,Failed and ,Issued."""
    types = {c.get("type") for c in _conditions(obj)}
    out = "Denied" if "Denied" in types else "Approved" if "Approved" in types else "Pending"
    if "Failed" in types:
        out += ",Failed"
    if _status(obj).get("certificate"):
        out += ",Issued"
    return out


def _timestamps(new: JSONDict, old: JSONDict | None) -> None:
    """populateConditionTimestamps."""
    t = now()
    old_conds = _conditions(old) if old is not None else []
    for c in _conditions(new):
        if not c.get("lastUpdateTime"):
            c["lastUpdateTime"] = t
        if not c.get("lastTransitionTime"):
            c["lastTransitionTime"] = next(
                (o["lastTransitionTime"] for o in old_conds
                 if o.get("type") == c.get("type") and o.get("status") == c.get("status")
                 and o.get("lastTransitionTime")), t)


def _with_conditions(obj: JSONDict, status: JSONDict, conds: list[JSONDict]) -> JSONDict:
    st = dict(status)
    if conds:
        st["conditions"] = conds
    else:
        st.pop("conditions", None)
    obj["status"] = st
    return obj


class CertificateSigningRequestStrategy(Strategy):
    status_subresource = True
    writable_subresources = ("approval",)
    columns = [NAME, AGE,
               column("SignerName", description="The name of the signer that will sign the "
                      "certificate"),
               column("Requestor", description="Information about the requesting user"),
               column("RequestedDuration", description="The requested duration of the "
                      "certificate"),
               column("Condition", description="The approval state of the request")]

    def prepare_for_create(self, obj: JSONDict) -> None:
        super().prepare_for_create(obj)
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            spec = obj["spec"] = {}
        for k in ("username", "uid", "groups", "extra"):
            spec.pop(k, None)
        user = context.user()
        spec["username"] = user.name
        if user.uid:
            spec["uid"] = user.uid
        if user.groups:
            spec["groups"] = list(user.groups)
        if user.extra:
            spec["extra"] = {k: list(v) for k, v in user.extra.items()}
        obj["status"] = {}

    def prepare_for_update(self, new: JSONDict, old: JSONDict) -> None:
        super().prepare_for_update(new, old)
        if "spec" in old:
            new["spec"] = old["spec"]

    def prepare_for_status_update(self, new_status: Any, old: JSONDict) -> JSONDict:
        """csrStatusStrategy: the spec and the Approved/Denied conditions stay."""
        new = super().prepare_for_status_update(new_status, old)
        status = new_status if isinstance(new_status, dict) else {}
        conds = [c for c in _conditions({"status": status}) if c.get("type") not in _APPROVAL]
        conds += [c for c in _conditions(old) if c.get("type") in _APPROVAL]
        _with_conditions(new, status, conds)
        _timestamps(new, old)
        return new

    def prepare_for_subresource_update(self, subresource: str, new: JSONDict,
                                       old: JSONDict) -> JSONDict:
        """csrApprovalStrategy: only Approved/Denied come from the request; the certificate
        and the other conditions stay."""
        if subresource != "approval":
            return super().prepare_for_subresource_update(subresource, new, old)
        out = dict(new)
        out["metadata"] = dict(meta(new))
        omd = meta(old)
        for k in ("uid", "creationTimestamp", "deletionTimestamp",
                  "deletionGracePeriodSeconds", "generation", "managedFields"):
            if k in omd:
                out["metadata"][k] = omd[k]
        if "spec" in old:
            out["spec"] = old["spec"]
        conds = [c for c in _conditions(new) if c.get("type") in _APPROVAL]
        conds += [c for c in _conditions(old) if c.get("type") not in _APPROVAL]
        _with_conditions(out, _status(old), conds)
        _timestamps(out, old)
        return out

    def table_row(self, obj: JSONDict, now_: datetime | None) -> Row:
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        assert isinstance(spec, dict)
        exp = spec.get("expirationSeconds")
        duration = human_duration(exp) if isinstance(exp, int) else "<none>"
        return [(obj.get("metadata") or {}).get("name") or "", age_of(obj, now_),
                str(spec.get("signerName") or "<none>"), str(spec.get("username") or ""),
                duration, csr_condition(obj)], []
