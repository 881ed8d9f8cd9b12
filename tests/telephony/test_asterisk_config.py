"""``callcenter asterisk config``: pjsip.conf, http.conf and ari.conf from the settings and the agent accounts,
seat secrets kept in the data folder, and the panel's softphone credentials (issue 15)."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from callcenter.calls.softphone_seats import SeatError, SeatSecrets, softphone_credentials
from callcenter.cli import main
from callcenter.config import load_settings
from callcenter.store import dispose_all, migrate
from callcenter.telephony.asterisk_config import AsteriskConfigError, Seat, render
from callcenter.web.users import UserError, add_user, list_users, set_seat

Section = tuple[str, list[tuple[str, str]]]


def parse_asterisk_config(text: str) -> list[Section]:
    """Asterisk's configuration format, strictly: ``[section]`` headers and ``key = value`` lines, ``;``
    comments; anything else (a line outside a section, a bare word, an unbalanced header) fails the test."""
    sections: list[Section] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        header = re.fullmatch(r"\[([^\[\]]+)\]", line)
        if header:
            sections.append((header.group(1), []))
            continue
        pair = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\s*=>?\s*(.*)", line)
        assert pair and sections, f"line {number} is not Asterisk's config format: {raw!r}"
        sections[-1][1].append((pair.group(1), pair.group(2)))
    return sections


def of_type(sections: list[Section], kind: str) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for name, pairs in sections:
        values = dict(pairs)
        if values.get("type") == kind:
            assert name not in found, f"{kind} {name} appears twice"
            assert len(values) == len(pairs), f"{kind} {name}: a key is set twice"
            found[name] = values
    return found


@pytest.fixture
def centre(tmp_path: Path) -> Iterator[Path]:
    """A TOML settings file with its own database, secrets file and certificate files (the generator reads only
    their paths: Asterisk opens them; tests/asterisk/test_webrtc.py makes a real one)."""
    (tmp_path / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    config = tmp_path / "callcenter.toml"
    config.write_text(f"""\
[database]
url = "sqlite:///{tmp_path / 'cc.sqlite3'}"
[telephony]
ari_url = "http://127.0.0.1:8188/ari"
ari_username = "bridge"
ari_password = "ari-secret-1"
[pbx]
secrets_file = "{tmp_path / 'var' / 'seat-secrets.json'}"
tls_cert_file = "{tmp_path / 'cert.pem'}"
tls_key_file = "{tmp_path / 'key.pem'}"
""", encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'cc.sqlite3'}"
    migrate(url)
    add_user(url, "zhang", "agent", "first-pass-1", work_number="8001", display_name="张三", seat="webrtc")
    add_user(url, "li", "agent", "first-pass-1", work_number="8002", display_name="李四")
    add_user(url, "wang", "agent", "first-pass-1", display_name="王五", seat="webrtc")  # no 工号: its name
    add_user(url, "qa1", "qa", "first-pass-1")
    yield config
    dispose_all()


def run(config: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def written(config: Path, folder: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, str]:
    code, out, err = run(config, "asterisk", "config", "--write", str(folder), *extra, capsys=capsys)
    assert code == 0, err
    assert "3 seats (2 webrtc, 1 desk)" in out
    return {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir()}


def test_the_files_parse_and_every_seat_appears_once(centre: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    files = written(centre, tmp_path / "etc", capsys)
    assert sorted(files) == ["ari.conf", "http.conf", "pjsip.conf"]
    pjsip = parse_asterisk_config(files["pjsip.conf"])
    endpoints, aors, auths = of_type(pjsip, "endpoint"), of_type(pjsip, "aor"), of_type(pjsip, "auth")
    assert sorted(endpoints) == sorted(aors) == ["8001", "8002", "wang"]
    assert sorted(auths) == ["8001-auth", "8002-auth", "wang-auth"]
    for seat in endpoints:
        assert endpoints[seat]["aors"] == seat and endpoints[seat]["auth"] == f"{seat}-auth"
        assert aors[seat] == {"type": "aor", "max_contacts": "1", "remove_existing": "yes"}
        assert auths[f"{seat}-auth"]["username"] == seat and len(auths[f"{seat}-auth"]["password"]) >= 32
    browser, desk = endpoints["8001"], endpoints["8002"]
    assert browser["webrtc"] == "yes" and browser["dtls_auto_generate_cert"] == "yes"
    assert browser["allow"] == "ulaw,alaw,opus" and browser["transport"] == "transport-wss"
    assert browser["callerid"] == '"张三" <8001>'
    for seat in endpoints.values():  # RTP on the centre's address only
        assert seat["media_address"] == "127.0.0.1" and seat["bind_rtp_to_media_address"] == "yes"
    assert "webrtc" not in desk and desk["allow"] == "ulaw,alaw" and "transport" not in desk
    transports = of_type(pjsip, "transport")
    assert {name: t["protocol"] for name, t in transports.items()} == {
        "transport-udp": "udp", "transport-tcp": "tcp", "transport-wss": "wss"}
    assert transports["transport-udp"]["bind"] == "127.0.0.1:5060"
    http = dict(parse_asterisk_config(files["http.conf"])[0][1])
    assert http["bindaddr"] == "127.0.0.1" and http["bindport"] == "8188"
    assert http["tlsenable"] == "yes" and http["tlsbindaddr"] == "127.0.0.1:8089"
    assert http["tlscertfile"] == str(tmp_path / "cert.pem") and http["tlsprivatekey"] == str(tmp_path / "key.pem")
    ari = parse_asterisk_config(files["ari.conf"])
    assert ari[0] == ("general", [("enabled", "yes")])
    assert dict(ari[1][1]) == {"type": "user", "read_only": "no", "password": "ari-secret-1",
                               "password_format": "plain"} and ari[1][0] == "bridge"
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "etc").iterdir()}
    assert modes == {"pjsip.conf": 0o600, "ari.conf": 0o600, "http.conf": 0o644}


def test_secrets_are_made_once_private_and_stable(centre: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    first = written(centre, tmp_path / "a", capsys)
    store = tmp_path / "var" / "seat-secrets.json"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    kept = store.read_bytes()
    second = written(centre, tmp_path / "b", capsys)
    assert second == first and store.read_bytes() == kept
    code, printed, _ = run(centre, "asterisk", "config", capsys=capsys)
    assert code == 0 and first["pjsip.conf"] in printed  # printing makes the same files
    secrets = json.loads(kept)
    assert sorted(secrets) == ["8001", "8002", "wang"] and len(set(secrets.values())) == 3
    for secret in secrets.values():
        assert f"password = {secret}" in first["pjsip.conf"]


def test_rotation_renews_only_the_named_seats(centre: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    written(centre, tmp_path / "a", capsys)
    before = json.loads((tmp_path / "var" / "seat-secrets.json").read_text())
    after_files = written(centre, tmp_path / "b", capsys, "--rotate-secrets", "8001")
    after = json.loads((tmp_path / "var" / "seat-secrets.json").read_text())
    assert after["8001"] != before["8001"] and after["8002"] == before["8002"] and after["wang"] == before["wang"]
    assert f"password = {after['8001']}" in after_files["pjsip.conf"]
    code, _, err = run(centre, "asterisk", "config", "--rotate-secrets", "9999", capsys=capsys)
    assert code == 2 and err.strip() == "callcenter: error: --rotate-secrets: no agent seat 9999"


def test_a_new_agent_gets_a_secret_and_the_others_keep_theirs(centre: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    written(centre, tmp_path / "a", capsys)
    before = json.loads((tmp_path / "var" / "seat-secrets.json").read_text())
    settings = load_settings(centre, environ={})
    add_user(settings.database.url, "zhao", "agent", "first-pass-1", work_number="8003")
    code, out, _ = run(centre, "asterisk", "config", "--write", str(tmp_path / "b"), capsys=capsys)
    assert code == 0 and "4 seats (2 webrtc, 2 desk)" in out
    after = json.loads((tmp_path / "var" / "seat-secrets.json").read_text())
    assert {k: after[k] for k in before} == before and after["8003"]


def test_webrtc_seats_need_a_certificate(centre: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = centre.read_text()
    no_cert = tmp_path / "no-cert.toml"
    no_cert.write_text(re.sub(r"tls_(cert|key)_file = .*\n", "", text))
    code, out, err = run(no_cert, "asterisk", "config", capsys=capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("callcenter: error: pbx.tls_cert_file: not set; the browsers' secure websocket (wss)")
    assert not (tmp_path / "var" / "seat-secrets.json").exists()  # nothing made before the settings are right
    gone = tmp_path / "gone.toml"
    gone.write_text(text.replace("cert.pem", "missing.pem"))
    code, _, err = run(gone, "asterisk", "config", capsys=capsys)
    missing = tmp_path / "missing.pem"
    assert code == 2 and err.strip() == f"callcenter: error: pbx.tls_cert_file: {missing} does not exist"
    # Desk phones alone need no TLS at all.
    settings = load_settings(no_cert, environ={})
    set_seat(settings.database.url, "zhang", "desk")
    set_seat(settings.database.url, "wang", "desk")
    code, out, _ = run(no_cert, "asterisk", "config", capsys=capsys)
    assert code == 0 and "tlsenable" not in out and "transport-wss" not in out


@pytest.mark.parametrize(("key", "value", "message"), [
    ("CALLCENTER_PBX__BIND_ADDRESS", "pbx.example", "pbx.bind_address: expected an IP address, got 'pbx.example'"),
    ("CALLCENTER_PBX__WEBRTC_CODECS", "opus,mp3", "pbx.webrtc_codecs: unknown codec 'mp3'"),
    ("CALLCENTER_PBX__TLS_PORT", "70000", "pbx.tls_port: 70000 is not a TCP port"),
    ("CALLCENTER_TELEPHONY__ARI_URL", "https://127.0.0.1:8089/ari", "telephony.ari_url: expected http://HOST:PORT/ari"),
    ("CALLCENTER_TELEPHONY__ARI_URL", "http://127.0.0.1:8089/ari", "telephony.ari_url: port 8089 is pbx.tls_port too"),
])
def test_bad_settings_are_one_line(centre: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                   key: str, value: str, message: str) -> None:
    monkeypatch.setenv(key, value)
    code, out, err = run(centre, "asterisk", "config", capsys=capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith(f"callcenter: error: {message}")


def test_seat_kinds_are_checked(centre: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(centre, "users", "add", "zhou", "--role", "agent", "--seat", "phone", capsys=capsys)
    assert code == 2 and err.strip() == "callcenter: error: seat kind 'phone': expected one of desk, webrtc"
    code, out, _ = run(centre, "users", "set-seat", "li", "webrtc", capsys=capsys)
    assert code == 0 and out.startswith("li: seat webrtc")
    code, _, err = run(centre, "users", "set-seat", "nobody", "desk", capsys=capsys)
    assert code == 2 and err.strip() == "callcenter: error: user 'nobody' does not exist"
    code, out, _ = run(centre, "users", "list", "--role", "agent", capsys=capsys)
    assert "li\tagent 工号 8002 seat webrtc" in out and "zhang\tagent 工号 8001 seat webrtc" in out
    with pytest.raises(AsteriskConfigError, match="account x: unknown seat kind 'sip'"):
        render(load_settings(centre, environ={}), [Seat("8009", "sip", "x", "")], {"8009": "s"})


def test_two_accounts_on_one_seat_are_refused(centre: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(centre, environ={})
    add_user(settings.database.url, "twin", "agent", "first-pass-1", work_number="8001")
    code, _, err = run(centre, "asterisk", "config", capsys=capsys)
    assert code == 2 and "accounts zhang and twin share the seat 8001" in err


def test_softphone_credentials_match_pjsip_conf(centre: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(centre, environ={})
    accounts = {u.name: u for u in list_users(settings.database.url, "agent")}
    with pytest.raises(SeatError, match="seat 8001 has no SIP secret yet: run `callcenter asterisk config"):
        softphone_credentials(settings, accounts["zhang"])
    files = written(centre, tmp_path / "etc", capsys)
    auths = of_type(parse_asterisk_config(files["pjsip.conf"]), "auth")
    zhang = softphone_credentials(settings, accounts["zhang"]).as_json()
    assert zhang == {"seat": "webrtc", "ws_url": "wss://127.0.0.1:8089/ws", "sip_uri": "sip:8001@127.0.0.1",
                     "username": "8001", "password": auths["8001-auth"]["password"], "display_name": "张三"}
    assert softphone_credentials(settings, accounts["wang"]).sip_uri == "sip:wang@127.0.0.1"
    desk = softphone_credentials(settings, accounts["li"])
    assert desk.seat == "desk" and desk.password == "" and desk.ws_url == ""
    public = replace(settings, pbx=replace(settings.pbx, bind_address="0.0.0.0", public_host="pbx.example.cn"))
    everywhere = render(public, [Seat("8001", "webrtc", "zhang", "")], {"8001": "s"})["pjsip.conf"]
    assert "media_address" not in everywhere  # every address: Asterisk picks per call
    got = softphone_credentials(public, accounts["zhang"])
    assert got.ws_url == "wss://pbx.example.cn:8089/ws" and got.sip_uri == "sip:8001@pbx.example.cn"
    anywhere = replace(settings, pbx=replace(settings.pbx, bind_address="0.0.0.0"))
    with pytest.raises(SeatError, match=r"pbx\.public_host: required"):
        softphone_credentials(anywhere, accounts["zhang"])


def test_a_damaged_secrets_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "seat-secrets.json"
    path.write_text("{not json")
    with pytest.raises(SeatError, match=f"pbx.secrets_file: {path} is not the seat secrets file"):
        SeatSecrets(path).ensure(["8001"])


def test_seat_kind_on_both_engines(db_url: str) -> None:
    add_user(db_url, "a1", "agent", "first-pass-1", work_number="8101")
    add_user(db_url, "a2", "agent", "first-pass-1", work_number="8102", seat="webrtc")
    with pytest.raises(SeatError):
        add_user(db_url, "a3", "agent", "first-pass-1", seat="sip")
    set_seat(db_url, "a1", "webrtc")
    set_seat(db_url, "a2", "desk")
    assert {u.name: u.seat for u in list_users(db_url, "agent")} == {"a1": "webrtc", "a2": "desk"}
    with pytest.raises(UserError):
        set_seat(db_url, "nobody", "desk")


def test_several_asterisk_servers_need_one_named(centre: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    two = tmp_path / "two.toml"
    two.write_text(centre.read_text().replace('[telephony]\nari_url = "http://127.0.0.1:8188/ari"\n'
                                              'ari_username = "bridge"\nari_password = "ari-secret-1"\n', """\
[telephony.asterisk.a]
ari_url = "http://127.0.0.1:8188/ari"
ari_username = "bridge-a"
ari_password = "secret-a-1"
[telephony.asterisk.b]
ari_url = "http://127.0.0.1:8288/ari"
ari_username = "bridge-b"
ari_password = "secret-b-1"
"""))
    code, _, err = run(two, "asterisk", "config", capsys=capsys)
    assert code == 2 and err.strip() == "callcenter: error: several Asterisk servers (a, b): name one with --server"
    code, _, err = run(two, "asterisk", "config", "--server", "c", capsys=capsys)
    assert code == 2 and err.strip() == "callcenter: error: --server c: no [telephony.asterisk.c] (known: a, b)"
    code, out, _ = run(two, "asterisk", "config", "--server", "b", capsys=capsys)
    assert code == 0 and "[bridge-b]" in out and "password = secret-b-1" in out and "bindport = 8288" in out
    assert "bridge-a" not in out
