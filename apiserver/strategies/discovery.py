"""EndpointSlices (pkg/registry/discovery/endpointslice/strategy.go): no status, a
generation counted over the endpoints and ports; the Table row is printEndpointSlice's
(pkg/printers/internalversion/printers.go)."""

from __future__ import annotations

from datetime import datetime

from api.printers import format_slice_endpoints, format_slice_ports
from apiserver.strategies.base import (
    AGE,
    NAME,
    JSONDict,
    Row,
    Strategy,
    age_of,
    column,
    meta,
    name_of,
)


class EndpointSliceStrategy(Strategy):
    has_generation = True
    spec_and_status = False
    columns = [NAME,
               column("AddressType", description="addressType specifies the type of address "
                      "carried by this EndpointSlice."),
               column("Ports", description="ports specifies the list of network ports "
                      "exposed by each endpoint in this slice."),
               column("Endpoints", description="endpoints is a list of unique endpoints in "
                      "this slice."),
               AGE]

    def prepare_for_update(self, new: JSONDict, old: JSONDict) -> None:
        """PrepareForUpdate: the generation counts changes of the slice's content (it has
        no spec), not of its metadata."""
        super().prepare_for_update(new, old)
        md, omd = meta(new), meta(old)
        changed = any(new.get(k) != old.get(k) for k in ("endpoints", "ports", "addressType"))
        gen = int(omd.get("generation") or 1)
        md["generation"] = gen + 1 if changed else gen

    def table_row(self, obj: JSONDict, now: datetime | None) -> Row:
        return [name_of(obj), str(obj.get("addressType") or ""),
                format_slice_ports(obj.get("ports")),
                format_slice_endpoints(obj.get("endpoints")), age_of(obj, now)], []
