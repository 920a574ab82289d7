"""The base of every wire model: Kubernetes' camelCase names, unknown fields kept."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

# An int32 field of the Kubernetes API: a value out of range is a 422 naming the field
# ("must be less than or equal to 2147483647"), never a number the controllers act on.
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]


class Model(BaseModel):
    """A Kubernetes JSON object.

    ``extra="allow"`` keeps fields this project does not model, so that an object
    read, changed and written back loses nothing a newer client put there.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        validate_assignment=False,
        serialize_by_alias=True,
    )

    def to_dict(self) -> dict[str, Any]:
        """The wire form: camelCase, with unset (None) fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return cls.model_validate(data)

    def copy_deep(self) -> Self:
        """A deep copy: cached objects are never changed in place."""
        return self.model_copy(deep=True)


def dig(obj: Any, *path: str) -> Any:
    """``obj[path[0]][path[1]]...`` through wire dicts, or None where a step is missing or
    not a mapping: how validation and the printers read objects that may be malformed."""
    for p in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(p)
    return obj
