"""The Swagger 1.2 test kit: it must reject what Asterisk 22.10.1's models reject, and accept what they allow."""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path

import pytest

import callcenter.sim
from callcenter.sim.ari import AriSimulator
from callcenter.sim.swagger import (
    RESOURCE_NAMES,
    ApiDocs,
    SwaggerError,
    default_api_docs,
    locate_api_docs,
)


@pytest.fixture(scope="module")
def docs() -> ApiDocs:
    return default_api_docs()


def channel() -> dict:
    return {
        "id": "1700000000.1", "protocol_id": "", "name": "PJSIP/trunk-00000001", "state": "Ring",
        "caller": {"name": "", "number": "13800138000"}, "connected": {"name": "", "number": ""},
        "accountcode": "", "dialplan": {"context": "default", "exten": "s", "priority": 1, "app_name": "Stasis",
                                        "app_data": "callcenter,main"},
        "creationtime": "2026-11-23T10:00:00.000+0800", "language": "zh",
    }


def test_the_simulator_reads_only_the_packaged_copy() -> None:
    packaged = Path(callcenter.sim.__file__).parent / "ari_api_docs"
    assert locate_api_docs() == packaged
    assert default_api_docs().folder == packaged


def test_a_missing_packaged_copy_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SwaggerError, match=r"ARI resource files were not found: .* has no channels\.json"):
        locate_api_docs(tmp_path)


def test_a_missing_resource_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SwaggerError, match=r"asterisk\.json: resource file missing"):
        ApiDocs(tmp_path)


def test_a_broken_resource_file_names_its_line(tmp_path: Path) -> None:
    for name in ("asterisk", "endpoints", "channels"):
        (tmp_path / f"{name}.json").write_text("{\n  oops\n}" if name == "channels" else "{}")
    with pytest.raises(SwaggerError, match=r"channels.json:2"):
        ApiDocs(tmp_path)


def test_valid_channel_passes(docs: ApiDocs) -> None:
    assert docs.validate("Channel", channel()) == []


def test_required_property_type_and_allowable_values_are_checked(docs: ApiDocs) -> None:
    bad = channel()
    del bad["caller"]
    bad["state"] = "Talking"
    bad["dialplan"]["priority"] = "1"
    bad["extra"] = 1
    errors = docs.validate("Channel", bad)
    assert "$.caller: required by Channel" in errors
    assert any(e.startswith("$.state: 'Talking' is not one of") for e in errors)
    assert "$.dialplan.priority: expected long, got '1'" in errors
    assert "$.extra: not a property of Channel" in errors


def test_lists_and_dates(docs: ApiDocs) -> None:
    assert docs.validate("List[Channel]", [channel(), channel()]) == []
    assert docs.validate("List[Channel]", [{}])[0].startswith("$[0].")
    wrong_date = channel() | {"creationtime": "yesterday"}
    assert docs.validate("Channel", wrong_date) == ["$.creationtime: expected Date, got 'yesterday'"]


def test_events_are_validated_through_the_type_discriminator(docs: ApiDocs) -> None:
    event = {"type": "StasisStart", "application": "callcenter", "timestamp": "2026-11-23T10:00:00.000+0000",
             "args": ["main"], "channel": channel(), "asterisk_id": "02:42:ac:11:00:02"}
    assert docs.validate_message(event) == []
    assert docs.validate_message({**event, "args": "main"}) == ["$.args: expected a list of string"]
    missing = {k: v for k, v in event.items() if k != "application"}
    assert docs.validate_message(missing) == ["$.application: required by StasisStart"]
    assert docs.validate_message({"type": "ChannelExploded"})[0].startswith("$.type:")


def test_talk_finished_needs_an_integer_duration(docs: ApiDocs) -> None:
    event = {"type": "ChannelTalkingFinished", "application": "a", "timestamp": "2026-11-23T10:00:00.000+0000",
             "channel": channel(), "duration": 1.5}
    assert docs.validate_message(event) == ["$.duration: expected int, got 1.5"]


def test_operations_and_their_parameters(docs: ApiDocs) -> None:
    op, params = docs.find("POST", "/channels/1700000000.1/play/p1")
    assert op.nickname == "playWithId" and params == {"channelId": "1700000000.1", "playbackId": "p1"}
    assert docs.check_parameters(op, {}) == ["media: required"]
    hangup, _ = docs.find("DELETE", "/channels/x")
    assert docs.check_parameters(hangup, {"reason": "because"})[0].startswith("reason: 'because' is not one of")
    record, _ = docs.find("POST", "/bridges/b/record")
    assert docs.check_parameters(record, {"name": "n", "format": "wav", "maxDurationSeconds": "-1"}) == [
        "maxDurationSeconds: -1 is below 0"]
    assert docs.find("PUT", "/channels") is None and docs.methods_for("/channels") == {"GET", "POST"}


# Asterisk 22.10.1, rest-api/api-docs/: operations and models per resource file, counted in the originals.
SHAPE_22_10_1 = {
    "asterisk": (16, 12), "endpoints": (7, 2), "channels": (35, 5), "bridges": (18, 1), "recordings": (12, 2),
    "sounds": (2, 2), "playbacks": (3, 1), "deviceStates": (4, 1), "mailboxes": (4, 1), "events": (3, 57),
    "applications": (5, 1),
}


def test_the_packaged_copy_holds_every_resource_file_whole() -> None:
    folder = locate_api_docs()
    assert "22.10.1" in (folder / "VERSION.txt").read_text(encoding="utf-8")
    assert set(SHAPE_22_10_1) == set(RESOURCE_NAMES)
    for name, (operations, models) in SHAPE_22_10_1.items():
        declaration = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        assert declaration["resourcePath"] == f"/api-docs/{name}.{{format}}"
        assert declaration["apiVersion"] == "2.0.0" and declaration["swaggerVersion"] in ("1.1", "1.2")
        assert (sum(len(api["operations"]) for api in declaration["apis"]), len(declaration["models"])) == (
            operations, models), name


# Swagger 1.2's primitive types as Asterisk uses them; every other name must be a model of the copy.
PRIMITIVES = {"string", "int", "long", "double", "boolean", "Date", "object", "binary", "void"}


def _named_types(kind: str) -> str:
    """``List[List[Channel]]`` → ``Channel``: the model or primitive a Swagger type names."""
    while kind.startswith("List[") and kind.endswith("]"):
        kind = kind[5:-1]
    return kind


def test_every_type_the_copy_names_is_defined_in_it(docs: ApiDocs) -> None:
    known = set(docs.models) | PRIMITIVES
    for model_id, model in docs.models.items():
        assert model["id"] == model_id
        assert set(model.get("subTypes", ())) <= set(docs.models), model_id
        for prop_name, prop in model.get("properties", {}).items():
            assert _named_types(prop["type"]) in known, f"{model_id}.{prop_name}: {prop['type']}"
    for op in docs.operations:
        assert _named_types(op.response_class) in known, f"{op.method} {op.path}: {op.response_class}"
        for param in op.parameters:
            assert {"name", "paramType", "dataType"} <= set(param), f"{op.method} {op.path}: {param}"
    assert docs.properties("StasisStart").keys() >= {"type", "application", "timestamp", "channel", "args"}


def _published_event_types() -> set[str]:
    """The event types the ARI simulator sends: the string literals it passes to ``_publish`` / ``_event``."""
    tree = ast.parse(Path(inspect.getfile(AriSimulator)).read_text(encoding="utf-8"))
    return {
        call.args[1].value
        for call in ast.walk(tree)
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
        and call.func.attr in ("_publish", "_event") and len(call.args) > 1
        and isinstance(call.args[1], ast.Constant) and isinstance(call.args[1].value, str)
    }


def test_every_operation_and_event_the_simulator_serves_is_in_the_copy(docs: ApiDocs) -> None:
    handlers = [name.removeprefix("_op_").split("_", 1) for name in dir(AriSimulator) if name.startswith("_op_")]
    assert len(handlers) > 20
    served = {(op.resource, op.nickname) for op in docs.operations}
    assert [h for h in handlers if tuple(h) not in served] == []
    events = _published_event_types()
    assert {"StasisStart", "ChannelTalkingStarted", "PlaybackFinished", "RESTResponse"} <= events
    assert sorted(e for e in events if "Message" not in _ancestors(docs, e)) == []


def _ancestors(docs: ApiDocs, model_id: str) -> list[str]:
    """``StasisStart`` → ``[Event, Message]``: the models it extends through ``subTypes``; [] if it is unknown."""
    chain = []
    while model_id in docs.parents:
        model_id = docs.parents[model_id]
        chain.append(model_id)
    return chain
