"""Bounds on what a spec may carry, the same at admission (the CRD) and in Python.

Every free string has a length and every list and map a size, so that no object carries
megabytes; names, label keys and values follow Kubernetes' own limits, so that what is
admitted can be written into the Jobs, Deployments and selectors made from it. Every
duration has a range, checked by CEL at admission and by the models here, with messages
that name the field.

The regular expressions are written for three engines that must agree: Go's RE2 (the
API server's patterns and CEL's `matches`), Rust's regex (pydantic's `pattern`) and
Python's `re` (the checks below, always `fullmatch`): explicit ASCII classes only, no
`\\s`, `\\d`, `\\w` or `.` where a newline or a Unicode space could tell them apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import ROUND_CEILING, Decimal, localcontext
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from ..release.durations import duration_nanoseconds
from .common import cel

#: Object names (DNS subdomains, RFC 1123), e.g. a ServiceAccount or a PriorityClass.
NAME_LENGTH = 253
#: DNS labels, label values, and the name part of a qualified name.
LABEL_LENGTH = 63
#: Label and annotation keys: a DNS subdomain prefix (253), "/", a name (63).
KEY_LENGTH = 317
#: URIs of data sets, artifacts and HTTP APIs.
URI_LENGTH = 2048
#: PromQL queries of custom gates.
QUERY_LENGTH = 4096
#: Container image references (registry, path, tag and digest).
IMAGE_LENGTH = 512
#: Environment variable names and values of the serving container.
ENV_NAME_LENGTH = 256
ENV_VALUE_LENGTH = 4096
#: Annotation values; with at most ANNOTATIONS of them an object stays far below
#: Kubernetes' 256 KiB for all annotations of a pod.
ANNOTATION_VALUE_LENGTH = 4096
ANNOTATIONS = 32
#: Entries of label maps (node selectors, matchLabels, labels of created objects).
LABELS = 64
#: Resource quantities ("500m", "2Gi").
QUANTITY_LENGTH = 32
#: Durations: "1h30m". With at most six digits before a unit no admitted duration can
#: overflow Go's (and CEL's) 290 years, whatever its parts add up to.
DURATION_LENGTH = 20
#: HTTP paths (probes, the HTTPRoute's prefix): Gateway API's own limit.
PATH_LENGTH = 1024

#: A container image reference: no spaces, nothing the runtime would trim.
IMAGE = r"^[A-Za-z0-9][-A-Za-z0-9._/:@\[\]]*$"
DNS_LABEL_RE = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
DNS_SUBDOMAIN_RE = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
#: A label value: empty, or 63 characters of [-A-Za-z0-9_.] between alphanumerics.
LABEL_VALUE_RE = r"(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?"
_NAME_PART_RE = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
#: A label or annotation key: an optional DNS subdomain prefix and "/", then a name.
QUALIFIED_NAME_RE = rf"({DNS_SUBDOMAIN_RE}/)?{_NAME_PART_RE}"
_LONG_PREFIX_RE = r"[^/]{254,}/"
DURATION_RE = r"([0-9]{1,6}([.][0-9]{1,9})?(ms|s|m|h))+"
#: The same form with any number of digits: what the range rule speaks about.
_DURATION_FORM_RE = r"([0-9]+([.][0-9]+)?(ms|s|m|h))+"


def anchored(core: str) -> str:
    """The pattern for pydantic, the CRD and CEL (`^...$`)."""
    return f"^{core}$"


def _cel_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --- durations ------------------------------------------------------------------------


def duration_in_range(text: str, low: str, high: str) -> bool:
    """Whether a duration lies in [low, high], as CEL's duration() (Go's
    time.ParseDuration) compares them. What is no duration at all is left to the pattern;
    one with more digits than the pattern allows (100000000000000s) is out of range."""
    if re.fullmatch(_DURATION_FORM_RE, text) is None:
        return True
    if re.fullmatch(DURATION_RE, text) is None:
        return False
    value = duration_nanoseconds(text)
    return duration_nanoseconds(low) <= value <= duration_nanoseconds(high)


def duration_rule(path: str, low: str, high: str) -> tuple[str, str]:
    """The CEL rule of a duration field. It never calls duration() on what could
    overflow it: too many digits is out of range by the pattern alone."""
    rule = (
        f"!self.matches({_cel_string(anchored(_DURATION_FORM_RE))}) || "
        f"(self.matches({_cel_string(anchored(DURATION_RE))}) && "
        f"duration(self) >= duration('{low}') && duration(self) <= duration('{high}'))"
    )
    return rule, duration_message(path, low, high)


def duration_message(path: str, low: str, high: str) -> str:
    return f"{path}: must be a duration from {low} to {high} (e.g. 30s, 5m, 1h30m)"


def check_duration(path: str, text: str, low: str, high: str) -> str:
    if not duration_in_range(text, low, high):
        raise ValueError(duration_message(path, low, high))
    return text


def Duration(path: str, low: str, high: str) -> Any:
    """A Go-style duration ("30s", "1m30s", "1.5h") between `low` and `high`."""
    return Annotated[
        str,
        Field(
            pattern=anchored(DURATION_RE),
            max_length=DURATION_LENGTH,
            json_schema_extra=cel(duration_rule(path, low, high)),
        ),
        AfterValidator(lambda text: check_duration(path, text, low, high)),
    ]


# --- names, labels and annotations ----------------------------------------------------

DnsLabel = Annotated[str, Field(pattern=anchored(DNS_LABEL_RE), max_length=LABEL_LENGTH)]
DnsSubdomain = Annotated[
    str, Field(pattern=anchored(DNS_SUBDOMAIN_RE), min_length=1, max_length=NAME_LENGTH)
]
LabelValue = Annotated[str, Field(pattern=anchored(LABEL_VALUE_RE), max_length=LABEL_LENGTH)]


def qualified_name_ok(key: str) -> bool:
    """A valid label or annotation key (prefix at most 253, name at most 63)."""
    return (
        len(key) <= KEY_LENGTH
        and re.fullmatch(QUALIFIED_NAME_RE, key) is not None
        and re.match(_LONG_PREFIX_RE, key) is None
    )


def qualified_name_cel(variable: str) -> str:
    """CEL for `qualified_name_ok` of a string variable."""
    return (
        f"size({variable}) <= {KEY_LENGTH} && "
        f"{variable}.matches({_cel_string(anchored(QUALIFIED_NAME_RE))}) && "
        f"!{variable}.matches({_cel_string('^' + _LONG_PREFIX_RE)})"
    )


def qualified_name_message(path: str) -> str:
    return (
        f"{path}: keys must be qualified names (an optional DNS subdomain prefix and '/', "
        f"then at most 63 characters [-A-Za-z0-9_.] between alphanumerics)"
    )


def _check_keys(path: str) -> Callable[[dict[str, str]], dict[str, str]]:
    def check(mapping: dict[str, str]) -> dict[str, str]:
        if not all(qualified_name_ok(key) for key in mapping):
            raise ValueError(qualified_name_message(path))
        return mapping

    return check


def _keyed(path: str, value: Any, max_items: int) -> Any:
    return Annotated[
        dict[str, value],
        Field(
            max_length=max_items,
            json_schema_extra=cel(
                (f"self.all(k, {qualified_name_cel('k')})", qualified_name_message(path))
            ),
        ),
        AfterValidator(_check_keys(path)),
    ]


def LabelMap(path: str, max_items: int = LABELS) -> Any:
    """Labels, a node selector or matchLabels: qualified-name keys, label values."""
    return _keyed(path, LabelValue, max_items)


AnnotationValue = Annotated[str, Field(max_length=ANNOTATION_VALUE_LENGTH)]


def AnnotationMap(path: str) -> Any:
    """Annotations: qualified-name keys, values of at most 4096 characters."""
    return _keyed(path, AnnotationValue, ANNOTATIONS)


# --- quantities -----------------------------------------------------------------------

QUANTITY_RE = r"[0-9]+([.][0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?"
Quantity = Annotated[str, Field(pattern=anchored(QUANTITY_RE), max_length=QUANTITY_LENGTH)]
_SUFFIX = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
}


def quantity_value(text: str) -> Decimal | None:
    """A quantity as Kubernetes reads it (rounded up to nano units); None if it is not
    one of the CRD's form."""
    found = re.fullmatch(QUANTITY_RE, text)
    if found is None:
        return None
    suffix = found.group(2) or ""
    with localcontext() as exact:
        exact.prec = 100  # 32 digits times 2^40, to nine places: never rounded here
        value = Decimal(text[: len(text) - len(suffix)]) * _SUFFIX[suffix]
        return value.quantize(Decimal("1e-9"), rounding=ROUND_CEILING)


def limit_rule(request: str, limit: str, path: str) -> tuple[str, str]:
    """CEL: the limit, when set, is at least the request (as the API server requires of
    a container); values that are no quantities are left to the pattern."""
    rule = (
        f"!has(self.{limit}) || !isQuantity(self.{request}) || !isQuantity(self.{limit}) || "
        f"quantity(self.{request}).compareTo(quantity(self.{limit})) <= 0"
    )
    return rule, limit_message(request, limit, path)


def limit_message(request: str, limit: str, path: str) -> str:
    return f"{path}.{limit}: must be at least {path}.{request}"


def check_limit(request: str, limit: str | None, message: str) -> None:
    if limit is None:
        return
    wanted, allowed = quantity_value(request), quantity_value(limit)
    if wanted is not None and allowed is not None and wanted > allowed:
        raise ValueError(message)


# --- lists keyed by a field -----------------------------------------------------------


def keyed_list(key: str) -> dict[str, Any]:
    """A list whose items the API server keeps unique by `key` (listType map), as the
    Kubernetes lists they are copied into are."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [key]}


def check_unique(path: str, keys: list[str]) -> None:
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"{path}: each name once; {', '.join(duplicates)} is repeated")


# --- paths in URIs --------------------------------------------------------------------

#: A `..` segment anywhere in a URI (RE2's `matches` and Python's `search`).
DOT_DOT_RE = r"(^|/)[.][.](/|$)"
#: pvc://CLAIM or pvc://CLAIM/PATH with a claim name that is a DNS label.
PVC_RE = rf"pvc://{DNS_LABEL_RE}(/[^\n]*)?"


def pvc_rules(path: str) -> list[tuple[str, str]]:
    """CEL for a URI that may be pvc://CLAIM/PATH: a claim name, and no `..` in the path
    (it would lead out of the mounted claim)."""
    return [
        (
            f"!self.startsWith('pvc://') || self.matches({_cel_string(anchored(PVC_RE))})",
            f"{path}: pvc:// must name a PersistentVolumeClaim: pvc://CLAIM/PATH",
        ),
        (
            f"!self.startsWith('pvc://') || !self.matches({_cel_string(DOT_DOT_RE)})",
            pvc_dot_dot_message(path),
        ),
    ]


def pvc_dot_dot_message(path: str) -> str:
    return f"{path}: a pvc:// path must not contain '..' segments"


def check_pvc(path: str, uri: str) -> str:
    if not uri.startswith("pvc://"):
        return uri
    if re.fullmatch(PVC_RE, uri) is None:
        raise ValueError(f"{path}: pvc:// must name a PersistentVolumeClaim: pvc://CLAIM/PATH")
    if re.search(DOT_DOT_RE, uri) is not None:
        raise ValueError(pvc_dot_dot_message(path))
    return uri
