"""
Request-body validation for the router, and the JSON Schema it documents.

Each field type both checks a decoded JSON value (collecting Zod-style issues
``{"code", "path", "message"}``) and describes itself as JSON Schema, so the OpenAPI
document and the validation can never disagree. Unknown fields are stripped.
"""

from __future__ import annotations

import math
import re
from typing import Any, Optional, Sequence

from provenant._wire import MAX_SAFE_INT

__all__ = [
    "MAX_INT",
    "AnyArray",
    "AnyJson",
    "AnyObject",
    "Body",
    "Bool",
    "Content",
    "Field",
    "Int",
    "ListOf",
    "Num",
    "Str",
    "StrList",
    "Timestamp",
]

#: The largest integer accepted (JavaScript's ``Number.MAX_SAFE_INTEGER``).
MAX_INT = MAX_SAFE_INT

Path = Sequence[Any]
Issues = list[dict[str, Any]]


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _type_issue(issues: Issues, path: Path, expected: str, value: Any) -> None:
    received = _kind(value)
    issues.append(
        {
            "code": "invalid_type",
            "expected": expected,
            "received": received,
            "path": list(path),
            "message": f"Expected {expected}, received {received}",
        }
    )


class Field:
    """One field type: ``check`` returns the cleaned value, or appends issues."""

    def check(self, value: Any, path: Path, issues: Issues) -> Any:
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        raise NotImplementedError


class Str(Field):
    def __init__(
        self,
        *,
        min_length: int = 0,
        pattern: Optional[str] = None,
        enum: Optional[Sequence[str]] = None,
    ) -> None:
        self.min_length = min_length
        self.pattern = re.compile(pattern) if pattern else None
        self.enum = tuple(enum) if enum else None

    def check(self, value: Any, path: Path, issues: Issues) -> Any:
        if not isinstance(value, str):
            _type_issue(issues, path, "string", value)
            return None
        if self.enum is not None and value not in self.enum:
            issues.append(
                {
                    "code": "invalid_enum_value",
                    "options": list(self.enum),
                    "path": list(path),
                    "message": f"Invalid enum value. Expected {' | '.join(self.enum)}, "
                    f"received '{value}'",
                }
            )
        elif len(value) < self.min_length:
            issues.append(
                {
                    "code": "too_small",
                    "minimum": self.min_length,
                    "type": "string",
                    "path": list(path),
                    "message": f"String must contain at least {self.min_length} character(s)",
                }
            )
        elif self.pattern is not None and not self.pattern.fullmatch(value):
            issues.append(
                {
                    "code": "invalid_string",
                    "validation": "regex",
                    "path": list(path),
                    "message": f"Invalid: must match {self.pattern.pattern}",
                }
            )
        return value

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string"}
        if self.enum is not None:
            out["enum"] = list(self.enum)
        if self.min_length:
            out["minLength"] = self.min_length
        if self.pattern is not None:
            out["pattern"] = "^" + self.pattern.pattern + "$"
        return out


_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})?"
)


class Timestamp(Field):
    """An ISO-8601 date-time; cleaned to the contract's ``...T..:..:..mmmZ`` in UTC."""

    def check(self, value: Any, path: Path, issues: Issues) -> Any:
        import datetime

        if not isinstance(value, str):
            _type_issue(issues, path, "string", value)
            return None
        match = _ISO.fullmatch(value)
        try:
            if match is None:
                raise ValueError(value)
            year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
            fraction = (match.group(7) or "0")[:6].ljust(6, "0")
            moment = datetime.datetime(
                year,
                month,
                day,
                hour,
                minute,
                min(second, 59),
                int(fraction),
                tzinfo=datetime.timezone.utc,
            )
            zone = match.group(8)
            if zone and zone not in ("Z", "z"):
                sign = 1 if zone[0] == "+" else -1
                offset = datetime.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
                moment = moment - sign * offset
            # Not strftime: it writes year 999 as "999", which is no ISO-8601 date-time.
            return (
                f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
                f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
            )
        except (ValueError, OverflowError):
            issues.append(
                {
                    "code": "invalid_string",
                    "validation": "datetime",
                    "path": list(path),
                    "message": "Invalid datetime",
                }
            )
            return None

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}


class Int(Field):
    def check(self, value: Any, path: Path, issues: Issues) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _type_issue(issues, path, "integer", value)
            return None
        if isinstance(value, float):
            if not value.is_integer():
                _type_issue(issues, path, "integer", value)
                return None
            value = int(value)
        if not -MAX_INT <= value <= MAX_INT:
            issues.append(
                {
                    "code": "too_big",
                    "maximum": MAX_INT,
                    "type": "number",
                    "path": list(path),
                    "message": f"Number must be between {-MAX_INT} and {MAX_INT}",
                }
            )
            return None
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": -MAX_INT, "maximum": MAX_INT}


class Num(Field):
    def check(self, value: Any, path: Path, issues: Issues) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _type_issue(issues, path, "number", value)
            return None
        number = float(value)
        if not math.isfinite(number):
            _type_issue(issues, path, "number", value)
            return None
        return number

    def schema(self) -> dict[str, Any]:
        return {"type": "number"}


class Bool(Field):
    def check(self, value: Any, path: Path, issues: Issues) -> Any:
        if not isinstance(value, bool):
            _type_issue(issues, path, "boolean", value)
            return None
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


class AnyObject(Field):
    def check(self, value: Any, path: Path, issues: Issues) -> Any:
        if not isinstance(value, dict):
            _type_issue(issues, path, "object", value)
            return None
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "object"}


class AnyArray(Field):
    def check(self, value: Any, path: Path, issues: Issues) -> Any:
        if not isinstance(value, list):
            _type_issue(issues, path, "array", value)
            return None
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "array", "items": {}}


class StrList(Field):
    def check(self, value: Any, path: Path, issues: Issues) -> Any:
        if not isinstance(value, list):
            _type_issue(issues, path, "array", value)
            return None
        for index, item in enumerate(value):
            if not isinstance(item, str):
                _type_issue(issues, [*path, index], "string", item)
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "string"}}


class AnyJson(Field):
    """Any JSON value but ``null`` (eval inputs and outputs)."""

    def check(self, value: Any, path: Path, issues: Issues) -> Any:
        return value

    def schema(self) -> dict[str, Any]:
        return {
            "anyOf": [
                {"type": "string"},
                {"type": "number"},
                {"type": "boolean"},
                {"type": "object"},
                {"type": "array", "items": {}},
            ]
        }


class Content(Field):
    """Turn content: a string, an object or an array."""

    def check(self, value: Any, path: Path, issues: Issues) -> Any:
        if not isinstance(value, (str, dict, list)):
            _type_issue(issues, path, "string | object | array", value)
            return None
        return value

    def schema(self) -> dict[str, Any]:
        return {"oneOf": [{"type": "string"}, {"type": "object"}, {"type": "array", "items": {}}]}


class Body(Field):
    """
    A JSON object with known fields; unknown ones are stripped.

    ``fields`` maps a name to ``(field, required)``. An optional field given as
    ``null`` counts as absent.
    """

    def __init__(self, fields: dict[str, tuple[Field, bool]]) -> None:
        self.fields = fields

    def check(self, value: Any, path: Path, issues: Issues) -> Any:
        if not isinstance(value, dict):
            _type_issue(issues, path, "object", value)
            return None
        out: dict[str, Any] = {}
        for name, (field, required) in self.fields.items():
            item = value.get(name)
            if item is None:
                if required:
                    issues.append(
                        {
                            "code": "invalid_type",
                            "expected": "defined",
                            "received": "undefined" if name not in value else "null",
                            "path": [*path, name],
                            "message": "Required",
                        }
                    )
                continue
            out[name] = field.check(item, [*path, name], issues)
        return out

    def schema(self) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for name, (field, is_required) in self.fields.items():
            if is_required:
                required.append(name)
                properties[name] = field.schema()
            else:
                properties[name] = dict(field.schema(), nullable=True)
        out: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            out["required"] = required
        return out


class ListOf(Field):
    def __init__(self, item: Field, min_items: int = 0) -> None:
        self.item = item
        self.min_items = min_items

    def check(self, value: Any, path: Path, issues: Issues) -> Any:
        if not isinstance(value, list):
            _type_issue(issues, path, "array", value)
            return None
        if len(value) < self.min_items:
            issues.append(
                {
                    "code": "too_small",
                    "minimum": self.min_items,
                    "type": "array",
                    "inclusive": True,
                    "path": list(path),
                    "message": f"Array must contain at least {self.min_items} element(s)",
                }
            )
        return [self.item.check(item, [*path, index], issues) for index, item in enumerate(value)]

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "array", "items": self.item.schema()}
        if self.min_items:
            out["minItems"] = self.min_items
        return out
