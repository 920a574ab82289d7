"""RBAC kinds (pkg/registry/rbac/*/strategy.go) and the authorization.k8s.io reviews.

Roles and ClusterRoles print NAME and CREATED AT, bindings NAME ROLE AGE and, wide,
USERS GROUPS SERVICEACCOUNTS (pkg/printers/internalversion printRole, printRoleBinding).
Defaults are rbac/v1's: a roleRef's apiGroup, and a subject's (User and Group:
rbac.authorization.k8s.io, ServiceAccount: ""). Escalation checks wrap the writes as
storage hooks (apiserver/auth/escalation.py): they need the requesting user's rules.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.base import dig
from apiserver.strategies.base import AGE, NAME, JSONDict, Row, Strategy, age_of, column, name_of

GROUP = "rbac.authorization.k8s.io"
_CREATED_DOC = ("CreationTimestamp is a timestamp representing the server time when this "
                "object was created. It is not guaranteed to be set in happens-before order "
                "across separate operations. Clients may not set this value. It is "
                "represented in RFC3339 form and is in UTC.")
_ROLE_REF_DOC = ("RoleRef can reference a Role in the current namespace or a ClusterRole in "
                 "the global namespace. If the RoleRef cannot be resolved, the Authorizer "
                 "must return an error. This field is immutable.")


class RoleStrategy(Strategy):
    """Roles and ClusterRoles."""

    columns = [NAME, column("Created At", "date", description=_CREATED_DOC)]
    spec_and_status = False

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        return [name_of(obj), dig(obj, "metadata", "creationTimestamp") or ""], []


def subjects_strings(subjects: Any) -> tuple[list[str], list[str], list[str], list[str]]:
    """SubjectsStrings: users, groups, service accounts (ns/name), others."""
    users: list[str] = []
    groups: list[str] = []
    sas: list[str] = []
    others: list[str] = []
    for s in subjects if isinstance(subjects, list) else ():
        if not isinstance(s, dict):
            continue
        kind, name, ns = s.get("kind") or "", s.get("name") or "", s.get("namespace") or ""
        if kind == "ServiceAccount":
            sas.append(f"{ns}/{name}")
        elif kind == "User":
            users.append(name)
        elif kind == "Group":
            groups.append(name)
        else:
            others.append(f"{kind}/{ns}/{name}")
    return users, groups, sas, others


def default_binding(obj: JSONDict) -> None:
    ref = obj.get("roleRef")
    if isinstance(ref, dict) and not ref.get("apiGroup"):
        ref["apiGroup"] = GROUP
    for s in obj.get("subjects") or []:
        if isinstance(s, dict) and not s.get("apiGroup") and s.get("kind") in ("User", "Group"):
            s["apiGroup"] = GROUP


class RoleBindingStrategy(Strategy):
    """RoleBindings and ClusterRoleBindings."""

    columns = [NAME, column("Role", description=_ROLE_REF_DOC), AGE,
               column("Users", priority=1, description="Users in the roleBinding"),
               column("Groups", priority=1, description="Groups in the roleBinding"),
               column("ServiceAccounts", priority=1,
                      description="ServiceAccounts in the roleBinding")]
    spec_and_status = False

    def default(self, obj: JSONDict) -> None:
        super().default(obj)
        default_binding(obj)

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        ref = obj.get("roleRef")
        if not isinstance(ref, dict):
            ref = {}
        role = f"{ref.get('kind') or ''}/{ref.get('name') or ''}"
        users, groups, sas, _ = subjects_strings(obj.get("subjects"))
        return [name_of(obj), role, age_of(obj, now), ", ".join(users), ", ".join(groups),
                ", ".join(sas)], []


class ReviewStrategy(Strategy):
    """The access reviews: answered on create, never stored (apiserver/routes/reviews.py)."""

    spec_and_status = True
