"""Pieces shared by the resources' models: the camelCase base, conditions, CEL rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """A part of a resource: camelCase on the wire, snake_case in Python.

    Unknown fields are ignored rather than refused: the API server has already pruned
    what the schema does not know, and an operator must never crash on a newer field.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON form written into a resource (camelCase, no unset optional fields)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def cel(*rules: tuple[str, str]) -> dict[str, Any]:
    """`x-kubernetes-validations` for a schema node: (rule, message) pairs."""
    return {
        "x-kubernetes-validations": [{"rule": rule, "message": message} for rule, message in rules]
    }


def preserve_unknown() -> dict[str, Any]:
    """A free-form object node (hyperparameters, metrics): kept as written."""
    return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


class ScoreReference(ApiModel):
    """reference.json's score histogram: bucket upper bounds and counts (one more count)."""

    edges: list[float] = Field(max_length=64)
    counts: list[float] = Field(max_length=65)


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(ApiModel):
    """A standard Kubernetes condition (metav1.Condition)."""

    type: str
    status: ConditionStatus
    reason: str = Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    message: str = ""
    last_transition_time: str
    observed_generation: int | None = None


def utc_timestamp(moment: datetime) -> str:
    """RFC 3339 with a Z, as Kubernetes writes times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: list[Condition],
    *,
    type: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    now: datetime,
    generation: int | None,
) -> list[Condition]:
    """Conditions with one set; the transition time moves only when the status changes."""
    kept = [c for c in conditions if c.type != type]
    previous = next((c for c in conditions if c.type == type), None)
    moved_at = (
        previous.last_transition_time
        if previous is not None and previous.status == status
        else utc_timestamp(now)
    )
    kept.append(
        Condition(
            type=type,
            status=status,
            reason=reason,
            message=message,
            last_transition_time=moved_at,
            observed_generation=generation,
        )
    )
    return sorted(kept, key=lambda c: c.type)
