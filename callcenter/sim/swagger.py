"""The ARI Swagger 1.2 resource files as a test kit: find operations, validate messages against the models.

Asterisk publishes its REST interface as Swagger 1.2 "API declarations" (``channels.json``, ``events.json`` …),
each with ``apis`` (paths and operations) and ``models`` (``properties`` with a ``type``, ``required`` and
optional ``allowableValues``; ``subTypes`` and the ``type`` discriminator for events). This module reads those
files as they ship with Asterisk 22.10.1 and checks any JSON value against a model, so every REST response and
every event the simulator emits can be validated in the tests (the simulator's "faithful stand-in" promise,
docs/design.md "sim/"). It knows nothing of the ARI adapter: a parser shared by both sides would hide shared bugs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from callcenter.sim.errors import SimulatorError

# The Asterisk release the resource files come from; the simulator reports it in /asterisk/info.
ASTERISK_VERSION = "22.10.1"
# Resource files the ARI side of the call centre uses (and the aioari baseline of bench/ari.py loads).
RESOURCE_NAMES = (
    "asterisk",
    "endpoints",
    "channels",
    "bridges",
    "recordings",
    "sounds",
    "playbacks",
    "deviceStates",
    "mailboxes",
    "events",
    "applications",
)
_PRIMITIVES = {"string", "int", "long", "double", "boolean", "Date", "object", "binary", "void"}
# Asterisk prints times like 2025-03-17T08:32:35.709-0600 (ast_json_timeval, millisecond precision).
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:?\d{2}|Z)$")
_LIST = re.compile(r"^List\[(.+)\]$")


class SwaggerError(SimulatorError):
    """The resource files are missing or a value does not match its Swagger model."""


def locate_api_docs(folder: Path | None = None) -> Path:
    """The folder holding the ARI resource files: the copy packaged beside this module
    (``callcenter/sim/ari_api_docs``; its ``VERSION.txt`` names the Asterisk tag it comes from). A clone and an
    installed wheel read the same files, and nothing outside the package. ``folder`` replaces it in tests."""
    packaged = folder or Path(__file__).with_name("ari_api_docs")
    if (packaged / "channels.json").is_file():
        return packaged
    raise SwaggerError(
        f"the ARI resource files were not found: {packaged} has no channels.json "
        "(the package callcenter.sim.ari_api_docs is incomplete; reinstall callcenter)"
    )


@dataclass(frozen=True)
class Operation:
    """One REST operation of a resource file (``POST /channels/{channelId}/answer`` …)."""

    resource: str
    path: str
    method: str
    nickname: str
    response_class: str
    parameters: tuple[Mapping[str, Any], ...]
    error_codes: frozenset[int]
    pattern: re.Pattern[str] = field(compare=False, repr=False, default=re.compile(""))

    def match(self, path: str) -> dict[str, str] | None:
        m = self.pattern.match(path)
        return m.groupdict() if m else None


def _root(path: str) -> str:
    """The first segment of a resource path (``/channels/1/play`` → ``channels``): operations are indexed by it."""
    return path.lstrip("/").split("/", 1)[0]


def _path_pattern(path: str) -> re.Pattern[str]:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
    return re.compile(f"^{regex}$")


class ApiDocs:
    """All resource files of one folder: operations by path and method, models by id."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or locate_api_docs()
        self.declarations: dict[str, dict[str, Any]] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.parents: dict[str, str] = {}
        self.operations: list[Operation] = []
        for name in RESOURCE_NAMES:
            file = self.folder / f"{name}.json"
            try:
                declaration = json.loads(file.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise SwaggerError(f"{file}: resource file missing") from None
            except json.JSONDecodeError as exc:
                raise SwaggerError(f"{file}:{exc.lineno}: not JSON: {exc.msg}") from None
            self.declarations[name] = declaration
            for model_id, model in declaration.get("models", {}).items():
                self.models[model_id] = model
                for sub in model.get("subTypes", ()):
                    self.parents[sub] = model_id
            for api in declaration.get("apis", ()):
                for op in api.get("operations", ()):
                    self.operations.append(
                        Operation(
                            resource=name,
                            path=api["path"],
                            method=op["httpMethod"],
                            nickname=op["nickname"],
                            response_class=op.get("responseClass", "void"),
                            parameters=tuple(op.get("parameters", ())),
                            error_codes=frozenset(e["code"] for e in op.get("errorResponses", ())),
                            pattern=_path_pattern(api["path"]),
                        )
                    )
        self._index()

    # ------------------------------------------------------------------ operations

    def find(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation serving ``method path`` (path relative to /ari, with a leading slash) and its path
        parameters; None when no resource has that path. A path known under another method is reported by
        :meth:`methods_for` so a server can answer 405 like Asterisk."""
        for op in self._by_root.get((method, _root(path)), ()):
            params = op.match(path)
            if params is not None:
                return op, params
        return None

    def _index(self) -> None:
        self._by_root: dict[tuple[str, str], list[Operation]] = {}
        for op in self.operations:
            self._by_root.setdefault((op.method, _root(op.path)), []).append(op)

    def methods_for(self, path: str) -> set[str]:
        return {op.method for op in self.operations if op.match(path) is not None}

    def check_parameters(self, op: Operation, query: Mapping[str, str]) -> list[str]:
        """Problems with a request's query parameters: missing required ones, values outside their
        allowableValues, numbers that are not numbers (Asterisk answers these with 400)."""
        problems = []
        for param in op.parameters:
            if param["paramType"] != "query":
                continue
            name = param["name"]
            if name not in query:
                if param.get("required"):
                    problems.append(f"{name}: required")
                continue
            value = query[name]
            kind = param.get("dataType", "string")
            if kind in ("int", "long"):
                try:
                    number: float = int(value)
                except ValueError:
                    problems.append(f"{name}: not an integer: {value!r}")
                    continue
            elif kind == "boolean" and value not in ("true", "false", "yes", "no", "1", "0"):
                problems.append(f"{name}: not a boolean: {value!r}")
                continue
            else:
                number = float("nan")
            allowed = param.get("allowableValues")
            if allowed:
                problems.extend(f"{name}: {p}" for p in _check_allowed(allowed, value, number))
        return problems

    # ------------------------------------------------------------------ models

    def validate(self, model_type: str, value: Any, where: str = "$") -> list[str]:
        """Every way ``value`` differs from the Swagger type ``model_type``; an empty list when it matches."""
        if model_type in ("void",):
            return [] if value in (None, b"", "") else [f"{where}: expected no body"]
        m = _LIST.match(model_type)
        if m:
            if not isinstance(value, list):
                return [f"{where}: expected a list of {m.group(1)}"]
            out: list[str] = []
            for i, item in enumerate(value):
                out.extend(self.validate(m.group(1), item, f"{where}[{i}]"))
            return out
        if model_type in _PRIMITIVES:
            return _check_primitive(model_type, value, where)
        if model_type not in self.models:
            return [f"{where}: unknown model {model_type!r}"]
        return self._validate_model(model_type, value, where)

    def validate_message(self, value: Any) -> list[str]:
        """Check one websocket message: its ``type`` names the model (the ``Message`` discriminator)."""
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            return ["$: a message is an object with a string 'type'"]
        kind = value["type"]
        if kind not in self.models or not self._descends_from(kind, "Message"):
            return [f"$.type: {kind!r} is not a Message subtype of events.json"]
        return self._validate_model(kind, value, "$")

    def _descends_from(self, model_id: str, ancestor: str) -> bool:
        while model_id != ancestor:
            if model_id not in self.parents:
                return False
            model_id = self.parents[model_id]
        return True

    def properties(self, model_id: str) -> dict[str, dict[str, Any]]:
        """A model's own properties plus those it inherits through ``subTypes`` (Event → Message)."""
        return dict(_inherited(self, model_id))

    def _validate_model(self, model_id: str, value: Any, where: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{where}: expected a {model_id} object"]
        props = self.properties(model_id)
        discriminated = "type" in value and self._descends_from(model_id, "Message")
        out: list[str] = []
        for name, prop in props.items():
            if name not in value:
                if prop.get("required"):
                    out.append(f"{where}.{name}: required by {model_id}")
                continue
            out.extend(self._validate_property(prop, value[name], f"{where}.{name}"))
        for name in value:
            if name not in props and not (discriminated and name == "type"):
                out.append(f"{where}.{name}: not a property of {model_id}")
        return out

    def _validate_property(self, prop: Mapping[str, Any], value: Any, where: str) -> list[str]:
        errors = self.validate(prop["type"], value, where)
        allowed = prop.get("allowableValues")
        if not errors and allowed:
            number = value if isinstance(value, int | float) and not isinstance(value, bool) else float("nan")
            errors = [f"{where}: {p}" for p in _check_allowed(allowed, value, number)]
        return errors


def _inherited(docs: ApiDocs, model_id: str) -> Iterable[tuple[str, dict[str, Any]]]:
    chain = [model_id]
    while chain[-1] in docs.parents:
        chain.append(docs.parents[chain[-1]])
    for mid in reversed(chain):
        yield from docs.models[mid].get("properties", {}).items()


def _check_primitive(kind: str, value: Any, where: str) -> list[str]:
    ok = {
        "string": isinstance(value, str),
        "Date": isinstance(value, str) and bool(_DATE.match(value)),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "long": isinstance(value, int) and not isinstance(value, bool),
        "double": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "object": isinstance(value, dict),
        "binary": isinstance(value, bytes | str),
    }[kind]
    return [] if ok else [f"{where}: expected {kind}, got {value!r}"]


def _check_allowed(allowed: Mapping[str, Any], value: Any, number: float) -> list[str]:
    kind = allowed.get("valueType")
    if kind == "LIST":
        values = allowed.get("values", [])
        return [] if value in values else [f"{value!r} is not one of {values}"]
    if kind == "RANGE":
        if number != number:  # NaN: not a number at all
            return [f"{value!r} is not a number"]
        if "min" in allowed and number < allowed["min"]:
            return [f"{number} is below {allowed['min']}"]
        if "max" in allowed and number > allowed["max"]:
            return [f"{number} is above {allowed['max']}"]
    return []


@cache
def default_api_docs() -> ApiDocs:
    """The resource files found by :func:`locate_api_docs`, loaded once per process."""
    return ApiDocs()
