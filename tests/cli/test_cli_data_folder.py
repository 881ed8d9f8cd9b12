"""``callcenter init DIR``: a data folder whose config file every command can point at, and whose own scripts and
prompts win over the standard library's name by name and key by key (issue 12)."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from callcenter.cli import main
from callcenter.config import PROJECT_ROOT, STANDARD_LIBRARY, load_settings
from callcenter.store import dispose_all

LIBRARY_SCRIPTS = len(list((PROJECT_ROOT / "scripts").glob("*.yaml")))


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in [k for k in os.environ if k.startswith("CALLCENTER_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("CALLCENTER_SERVICE__LOG_JSON", "false")
    yield
    structlog.reset_defaults()  # main() pointed structlog at the captured stderr
    dispose_all()


@pytest.fixture
def data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    folder = tmp_path / "centre"
    assert main(["init", str(folder)]) == 0
    capsys.readouterr()
    return folder


def test_init_writes_a_commented_config_that_loads_and_names_every_place(data: Path) -> None:
    config = data / "callcenter.toml"
    text = config.read_text(encoding="utf-8")
    assert text.startswith("# callcenter settings of the data folder") and "callcenter db upgrade" in text
    settings = load_settings(config, environ={})
    assert settings.database.url == f"sqlite:///{data / 'var' / 'callcenter.sqlite3'}"
    assert settings.recordings.root == data / "recordings"
    assert settings.metrics.reports_directory == data / "var" / "reports"
    assert settings.web.secret_file == data / "var" / "web-secret"
    assert settings.web.demo_directory == data / "var"
    assert settings.scripts.directory == data / "scripts"
    # From a checkout the checkout's library lies under the centre's folder (installed: the packaged one).
    assert settings.scripts.base_directories == (STANDARD_LIBRARY,)
    assert set(tomllib.loads(text)) == {"service", "database", "recordings", "metrics", "web", "scripts"}
    for folder in ("var/reports", "recordings", "scripts/prompts", "scripts/sounds"):
        assert (data / folder).is_dir()


def test_init_never_overwrites_a_config(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (data / "callcenter.toml").write_text("[service]\nhotline = '12345'\n", encoding="utf-8")
    assert main(["init", str(data)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exists already" in err
    assert "12345" in (data / "callcenter.toml").read_text(encoding="utf-8")


def test_the_centres_prompt_replaces_one_key_and_the_rest_comes_from_the_library(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (data / "scripts" / "prompts" / "zh-CN.yaml").write_text("greeting.short: 您好!{{ center }}热线。\n",
                                                             encoding="utf-8")
    config = str(data / "callcenter.toml")
    assert main(["--config", config, "scripts", "render", "greeting.short"]) == 0
    assert main(["--config", config, "scripts", "render", "greeting.center"]) == 0
    own, standard = capsys.readouterr().out.splitlines()
    assert own == "您好!江南云商热线。"
    assert standard == "您好,江南云商客服中心为您服务,请问有什么帮助您?"  # the library's own wording


def test_the_centres_script_replaces_the_one_of_the_same_name(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (data / "scripts" / "hold.yaml").write_text(
        "name: hold\ndescription: the centre's own\nstates:\n  a: {say: greeting.center, end: true}\n", encoding="utf-8"
    )
    config = str(data / "callcenter.toml")
    assert main(["--config", config, "scripts", "lint"]) == 0
    assert f"{LIBRARY_SCRIPTS} scripts" in capsys.readouterr().err
    assert main(["--config", config, "scripts", "simulate", "hold", "--json"]) == 0
    out = capsys.readouterr().out
    assert "greeting.center" in out and "hold." not in out


def test_a_centres_script_may_use_the_librarys_prompts_and_is_linted_with_them(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (data / "scripts" / "own.yaml").write_text(
        "name: own\ndescription: a centre's own\nstates:\n  a: {say: nope, end: true}\n", encoding="utf-8"
    )
    assert main(["--config", str(data / "callcenter.toml"), "scripts", "lint"]) == 1
    out = capsys.readouterr().out
    assert out == f"{data / 'scripts' / 'own.yaml'}:4:12: unknown prompt key 'nope' (not in zh-CN)\n"


def test_demo_data_stays_in_the_data_folder(data: Path) -> None:
    from argparse import Namespace

    from callcenter.cli.demo import demo_settings

    settings = demo_settings(load_settings(data / "callcenter.toml", environ={}),
                             Namespace(keep_data=False, port=None))
    assert settings.database.url == f"sqlite:///{data / 'var' / 'demo.sqlite3'}"
    assert settings.recordings.root == data / "var" / "demo-recordings"
    assert settings.metrics.reports_directory == data / "var" / "demo-reports"


def test_a_checkout_without_a_config_is_its_own_data_folder_as_before() -> None:
    settings = load_settings(environ={})
    assert settings.database.url == f"sqlite:///{PROJECT_ROOT / 'var' / 'callcenter.sqlite3'}"
    assert settings.recordings.root == PROJECT_ROOT / "recordings"
    assert settings.metrics.reports_directory == PROJECT_ROOT / "var" / "reports"
    assert settings.web.secret_file == PROJECT_ROOT / "var" / "web-secret"
    assert settings.web.demo_directory == PROJECT_ROOT / "var"
    assert settings.scripts.directory == STANDARD_LIBRARY == PROJECT_ROOT / "scripts"
    assert settings.scripts.base_directories == ()  # the checkout's scripts/ is the whole library
