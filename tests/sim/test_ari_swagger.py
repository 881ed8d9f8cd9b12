"""The Swagger 1.2 test kit: it must reject what Asterisk 22.10.1's models reject, and accept what they allow."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.sim.swagger import ApiDocs, SwaggerError, default_api_docs, locate_api_docs


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


def test_resource_files_are_found_beside_the_repository() -> None:
    folder = locate_api_docs()
    assert (folder / "events.json").is_file()


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


USED = {"name", "paramType", "required", "allowMultiple", "dataType", "allowableValues", "defaultValue"}


def test_the_packaged_copy_says_what_the_originals_say(docs: ApiDocs) -> None:
    copy = ApiDocs(Path(__file__).resolve().parents[2] / "callcenter" / "sim" / "ari_api_docs")
    assert copy.folder != docs.folder
    def plain(props: dict) -> dict:
        return {name: {k: v for k, v in prop.items() if k != "description"} for name, prop in props.items()}

    assert {m: copy.properties(m) for m in copy.models} == {m: plain(docs.properties(m)) for m in docs.models}
    assert [(o.method, o.path, o.response_class) for o in copy.operations] == [
        (o.method, o.path, o.response_class) for o in docs.operations]
    assert [[dict(p) for p in o.parameters] for o in copy.operations] == [
        [{k: v for k, v in p.items() if k in USED} for p in o.parameters] for o in docs.operations]
