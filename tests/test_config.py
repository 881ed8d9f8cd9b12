from pathlib import Path

import pytest

from callcenter.config import RETENTION_FLOOR_DAYS, ConfigError, load_settings


def test_defaults_need_no_file_and_no_environment() -> None:
    s = load_settings(environ={})
    assert s.telephony.agi_port == 4573
    assert s.telephony.agent_ring_limit == 3
    assert s.recordings.retention_days == RETENTION_FLOOR_DAYS
    assert s.service.tz.key == "Asia/Shanghai"


def test_toml_then_environment_override_in_that_order(tmp_path: Path) -> None:
    cfg = tmp_path / "cc.toml"
    cfg.write_text(
        '[service]\nhotline = "滨海供电"\n[telephony]\nagi_port = 5000\n'
        '[telephony.entries.power]\nscript = "inbound"\nlocale = "zh-CN"\n',
        encoding="utf-8",
    )
    s = load_settings(cfg, environ={"CALLCENTER_TELEPHONY__AGI_PORT": "5001"})
    assert s.service.hotline == "滨海供电"
    assert s.telephony.agi_port == 5001
    assert s.entry("power") is not None and s.entry("power").script == "inbound"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CALLCENTER_TELEPHONY__AGI_PORT": "many"}, "telephony.agi_port: expected an integer"),
        ({"CALLCENTER_TELEPHONY__AGI_PORT": "70000"}, "telephony.agi_port: 70000 is not a TCP port"),
        ({"CALLCENTER_RECORDINGS__RETENTION_DAYS": "90"}, "recordings.retention_days: 90 is below the floor"),
        ({"CALLCENTER_SERVICE__TIMEZONE": "Mars/Base"}, "service.timezone: unknown time zone"),
        ({"CALLCENTER_SERVICE__LOG_JSON": "maybe"}, "service.log_json: expected true or false"),
        ({"CALLCENTER_TELEPHONY__AGENT_RING_LIMIT": "4"}, "telephony.agent_ring_limit: R-01 allows 1 to 3"),
        ({"CALLCENTER_WEB__NO_SUCH": "1"}, "web.no_such: unknown setting"),
    ],
)
def test_a_bad_setting_names_its_key(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=environ)


def test_a_broken_config_file_is_a_clear_error(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[service\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load_settings(cfg, environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", environ={})
