"""AlwaysAdmit and AlwaysDeny (plugin/pkg/admission/admit, plugin/pkg/admission/deny):
off unless --enable-admission-plugins names them; AlwaysDeny refuses every write, as
kube-apiserver words it."""

from __future__ import annotations

from typing import Any

from apiserver.admission_plugins import AdmissionRequest, Plugin, register_plugin


class AlwaysAdmit(Plugin):
    name = "AlwaysAdmit"


class AlwaysDeny(Plugin):
    name = "AlwaysDeny"

    def handles(self, operation: str, info: Any, subresource: str | None) -> bool:
        return True

    def admit(self, req: AdmissionRequest) -> None:
        raise req.forbidden("admission control is denying all modifications")

    async def validate(self, req: AdmissionRequest) -> None:
        raise req.forbidden("admission control is denying all modifications")


register_plugin(AlwaysAdmit.name, lambda state: AlwaysAdmit())
register_plugin(AlwaysDeny.name, lambda state: AlwaysDeny())
