"""Google's discovery documents for Gmail and Calendar (gmail.v1.json and calendar.v3.json,
shipped in google-api-python-client) as checkers: the fake Gmail and the fake Google Calendar
validate every JSON body they answer with against the response schema of the method, and every
request's query parameters against the method's, so that they cannot drift from the real API
without a test failing.

The schema language is the discovery format's subset of JSON Schema: `type` (object, array,
string, integer, number, boolean), `properties`, `additionalProperties`, `items`, `$ref`,
`enum`, and `format` (int32, uint32, int64 and uint64, the latter two written as decimal
strings, byte as base64, google-datetime; date-time as RFC 3339 with its offset, date as
YYYY-MM-DD). An unknown property is an error, as is a value of
the wrong type or format.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import googleapiclient

DOCUMENTS = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
DOCUMENT = DOCUMENTS / "gmail.v1.json"
CALENDAR_DOCUMENT = DOCUMENTS / "calendar.v3.json"
# RFC 3339 as the Calendar API writes and takes it: the offset is mandatory.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})", re.IGNORECASE
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")
_RANGES = {"int32": (-(2**31), 2**31 - 1), "uint32": (0, 2**32 - 1)}


class SchemaError(AssertionError):
    """A body or a request that the discovery document does not allow."""


class Discovery:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.schemas: dict[str, Any] = document["schemas"]
        self.methods: dict[str, Any] = {}
        self._collect(document.get("resources", {}))

    def _collect(self, resources: dict[str, Any]) -> None:
        for resource in resources.values():
            for method in resource.get("methods", {}).values():
                self.methods[method["id"]] = method
            self._collect(resource.get("resources", {}))

    def check_response(self, method_id: str, body: Any) -> None:
        """Raise SchemaError unless `body` is what `method_id` returns."""
        self.check(body, {"$ref": self.methods[method_id]["response"]["$ref"]}, "$")

    def check(self, value: Any, schema: dict[str, Any], where: str) -> None:
        if "$ref" in schema:
            self.check(value, self.schemas[schema["$ref"]], where)
            return
        kind = schema.get("type")
        if "enum" in schema and value not in schema["enum"]:
            raise SchemaError(f"{where}: {value!r} is none of {schema['enum']}")
        if kind == "object":
            self._check_object(value, schema, where)
        elif kind == "array":
            if not isinstance(value, list):
                raise SchemaError(f"{where}: expected an array, got {type(value).__name__}")
            for index, item in enumerate(value):
                self.check(item, schema["items"], f"{where}[{index}]")
        elif kind == "string":
            _check_string(value, schema.get("format"), where)
        elif kind == "integer":
            _check_integer(value, schema.get("format"), where)
        elif kind == "boolean":
            if not isinstance(value, bool):
                raise SchemaError(f"{where}: expected a boolean, got {value!r}")
        elif kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SchemaError(f"{where}: expected a number, got {value!r}")
        elif kind != "any":
            raise SchemaError(f"{where}: the checker does not know type {kind!r}")

    def _check_object(self, value: Any, schema: dict[str, Any], where: str) -> None:
        if not isinstance(value, dict):
            raise SchemaError(f"{where}: expected an object, got {type(value).__name__}")
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for name, item in value.items():
            if name in properties:
                self.check(item, properties[name], f"{where}.{name}")
            elif extra is not None:
                self.check(item, extra, f"{where}.{name}")
            else:
                known = ", ".join(sorted(properties))
                raise SchemaError(f"{where}: unknown property {name!r} (known: {known})")

    def check_parameters(
        self, method_id: str, params: Sequence[tuple[str, str]], path_params: Sequence[str]
    ) -> None:
        """Raise SchemaError for a query parameter the method does not take, or takes once,
        or not with that value; or a required one missing."""
        method = self.methods[method_id]
        allowed = {**self.document.get("parameters", {}), **method.get("parameters", {})}
        seen: dict[str, int] = {}
        for name, value in params:
            spec = allowed.get(name)
            if spec is None or spec.get("location") != "query" or name in path_params:
                raise SchemaError(f"{method_id} takes no query parameter {name!r}")
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1 and not spec.get("repeated"):
                raise SchemaError(f"{method_id}: {name} given more than once")
            _check_parameter(name, value, spec, method_id)
        for name, spec in method.get("parameters", {}).items():
            if spec.get("required") and spec.get("location") == "query" and name not in seen:
                raise SchemaError(f"{method_id}: {name} is required")


def _check_parameter(name: str, value: str, spec: dict[str, Any], method_id: str) -> None:
    if "enum" in spec and value not in spec["enum"]:
        raise SchemaError(f"{method_id}: {name}={value!r} is none of {spec['enum']}")
    if spec.get("type") == "boolean" and value not in ("true", "false"):
        raise SchemaError(f"{method_id}: {name}={value!r} is not a boolean")
    if spec.get("type") == "integer" and not re.fullmatch(r"-?\d+", value):
        raise SchemaError(f"{method_id}: {name}={value!r} is not an integer")
    if spec.get("format") in ("uint64", "int64") and not re.fullmatch(r"-?\d+", value):
        raise SchemaError(f"{method_id}: {name}={value!r} is not an {spec['format']}")
    if spec.get("format") == "date-time":
        _check_rfc3339(value, f"{method_id}: {name}")


def _check_string(value: Any, format_: str | None, where: str) -> None:
    if not isinstance(value, str):
        raise SchemaError(f"{where}: expected a string, got {value!r}")
    if format_ == "int64" and not re.fullmatch(r"-?\d+", value):
        raise SchemaError(f"{where}: {value!r} is not an int64 written as a string")
    if format_ == "uint64" and not re.fullmatch(r"\d+", value):
        raise SchemaError(f"{where}: {value!r} is not a uint64 written as a string")
    if format_ == "byte":
        if not _BASE64.fullmatch(value):
            raise SchemaError(f"{where}: not base64")
        try:
            base64.urlsafe_b64decode(value.replace("+", "-").replace("/", "_") + "==")
        except (binascii.Error, ValueError) as error:
            raise SchemaError(f"{where}: not base64: {error}") from error
    if format_ == "google-datetime":
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as error:
            raise SchemaError(f"{where}: {value!r} is not an RFC 3339 time") from error
    if format_ == "date-time":
        _check_rfc3339(value, where)
    if format_ == "date":
        try:
            if not _DATE.fullmatch(value):
                raise ValueError(value)
            date.fromisoformat(value)
        except ValueError as error:
            raise SchemaError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from error


def _check_rfc3339(value: str, where: str) -> None:
    if not _RFC3339.fullmatch(value):
        raise SchemaError(f"{where}: {value!r} is not an RFC 3339 time with an offset")
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError as error:
        raise SchemaError(f"{where}: {value!r} is not an RFC 3339 time") from error


def _check_integer(value: Any, format_: str | None, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SchemaError(f"{where}: expected an integer, got {value!r}")
    low, high = _RANGES.get(format_ or "", (None, None))
    if low is not None and high is not None and not low <= value <= high:
        raise SchemaError(f"{where}: {value} is outside {format_}")


@cache
def gmail() -> Discovery:
    return Discovery(json.loads(DOCUMENT.read_text()))


@cache
def calendar() -> Discovery:
    return Discovery(json.loads(CALENDAR_DOCUMENT.read_text()))


def check_error(body: Any) -> None:
    """Google's error body ({"error": {"code", "message", "errors": [{"domain", "reason",
    "message", ...}], "status"}}): not in the discovery document, so checked by hand."""
    if not isinstance(body, dict) or set(body) != {"error"}:
        raise SchemaError(f"an error body must be {{'error': ...}}: {body!r}")
    error = body["error"]
    allowed = {"code", "message", "errors", "status", "details"}
    if not isinstance(error, dict) or not set(error) <= allowed:
        raise SchemaError(f"unknown fields in an error: {set(error) - allowed}")
    if not isinstance(error.get("code"), int) or not isinstance(error.get("message"), str):
        raise SchemaError("an error needs an integer code and a message")
    for item in error.get("errors", []):
        fields = {"domain", "reason", "message", "location", "locationType"}
        if not isinstance(item, dict) or not set(item) <= fields or "reason" not in item:
            raise SchemaError(f"an entry of error.errors is malformed: {item!r}")
