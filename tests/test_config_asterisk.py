"""``[telephony.asterisk.<name>]``: several Asterisk servers, the old flat keys as the server ``main``."""

from pathlib import Path

import pytest

from callcenter.config import ConfigError, load_settings


def test_without_sections_the_flat_keys_are_the_one_server_main() -> None:
    s = load_settings(environ={"CALLCENTER_TELEPHONY__ARI_URL": "http://pbx:8088/ari",
                               "CALLCENTER_TELEPHONY__AGI_PORT": "4999"})
    (name, server), = s.telephony.servers().items()
    assert name == "main" and server.ari_url == "http://pbx:8088/ari" and server.agi_port == 4999
    assert s.telephony.served() == s.telephony.servers()


def test_sections_in_the_file_and_a_nested_environment_override(tmp_path: Path) -> None:
    cfg = tmp_path / "cc.toml"
    cfg.write_text('[telephony]\nserve_asterisk = ["b"]\n'
                   '[telephony.asterisk.a]\nari_url = "http://10.0.0.1:8088/ari"\nagi_port = 4573\n'
                   '[telephony.asterisk.b]\nari_url = "http://10.0.0.2:8088/ari"\nari_password = "s3"\n',
                   encoding="utf-8")
    s = load_settings(cfg, environ={"CALLCENTER_TELEPHONY__ASTERISK__B__ARI_APP": "centre-b"})
    servers = s.telephony.servers()
    assert sorted(servers) == ["a", "b"]
    assert servers["a"].agi_port == 4573 and servers["b"].agi_port == 0  # b sends no FastAGI
    assert servers["b"].ari_app == "centre-b" and servers["b"].ari_password == "s3"
    assert list(s.telephony.served()) == ["b"]


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CALLCENTER_TELEPHONY__ASTERISK__B__ARI_URL": "pbx:8088"},
         r"^telephony\.asterisk\.b\.ari_url: expected http\(s\)://host:port/ari, got 'pbx:8088'$"),
        ({"CALLCENTER_TELEPHONY__ASTERISK__B__ARI_USER": "x"}, r"^telephony\.asterisk\.b\.ari_user: unknown setting$"),
        ({"CALLCENTER_TELEPHONY__ASTERISK__B__AGI_PORT": "99999"},
         r"^telephony\.asterisk\.b\.agi_port: 99999 is not a TCP port$"),
        ({"CALLCENTER_TELEPHONY__ASTERISK__B__ARI_APP": ""}, r"^telephony\.asterisk\.b\.ari_app: must not be empty$"),
        ({"CALLCENTER_TELEPHONY__ASTERISK__PBX_1__AGI_PORT": "1"},
         r"^telephony\.asterisk\.pbx_1: a server name is 1-31 lower-case letters, digits or '-'$"),
        ({"CALLCENTER_TELEPHONY__ASTERISK__A__AGI_PORT": "4573", "CALLCENTER_TELEPHONY__ASTERISK__B__AGI_PORT": "4573",
          "CALLCENTER_TELEPHONY__ASTERISK__B__ARI_APP": "b"},
         r"^telephony\.asterisk\.b\.agi_port: 127\.0\.0\.1:4573 is server 'a''s already$"),
        ({"CALLCENTER_TELEPHONY__ASTERISK__A__AGI_PORT": "1", "CALLCENTER_TELEPHONY__ASTERISK__B__AGI_PORT": "2"},
         r"^telephony\.asterisk\.b\.ari_app: 'callcenter' on http://127\.0\.0\.1:8088/ari is server 'a' already$"),
        ({"CALLCENTER_TELEPHONY__SERVE_ASTERISK": "c"},
         r"^telephony\.serve_asterisk: unknown server 'c' \(configured: main\)$"),
        ({"CALLCENTER_WEB__HEALTH_PORT": "-1"}, r"^web\.health_port: -1 is not a TCP port$"),
        ({"CALLCENTER_TELEPHONY__ASTERISK__B__AGENT_ENDPOINT": "PJSIP/{seat}@a"},
         r"^telephony\.asterisk\.b\.agent_endpoint: unknown placeholder 'seat' \(use \{work_number\} or \{name\}\)$"),
    ],
)
def test_a_bad_server_section_is_one_line_naming_its_key(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=environ)


def test_a_section_that_is_not_a_table_names_itself(tmp_path: Path) -> None:
    cfg = tmp_path / "cc.toml"
    cfg.write_text('[telephony.asterisk]\nb = "http://pbx/ari"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^telephony\.asterisk\.b: expected a table$"):
        load_settings(cfg, environ={})


def test_a_server_dials_the_seats_of_another_through_its_agent_endpoint() -> None:
    from callcenter.calls.agents import Agent
    from callcenter.cli.serve_telephony import server_settings
    from callcenter.telephony.ari.endpoints import agent_endpoint

    s = load_settings(environ={"CALLCENTER_TELEPHONY__ASTERISK__A__ARI_APP": "a",
                               "CALLCENTER_TELEPHONY__ASTERISK__B__ARI_APP": "b",
                               "CALLCENTER_TELEPHONY__ASTERISK__B__AGENT_ENDPOINT": "PJSIP/{work_number}@pbx-a"})
    seat = Agent("agent1", "PJSIP/8001", "8001")
    servers = s.telephony.servers()
    assert agent_endpoint(server_settings(s, servers["a"]), seat) == "PJSIP/8001"  # its phone registers here
    assert agent_endpoint(server_settings(s, servers["b"]), seat) == "PJSIP/8001@pbx-a"
