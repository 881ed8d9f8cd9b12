"""The repository stands on its own: a wheel built from it carries the standard script library, the prompt texts
and the packaged data, and an installed callcenter runs from any folder (issue 12).

One module-wide fixture builds the wheel from a copy of the source tree (a build in the checkout would leave
``build/`` behind and could pack stale files), installs it with its dependencies into a new virtualenv, and
runs every command from a folder outside the checkout, with ``HOME`` in the test's own folder. About 35 s with
pip's cache warm (wheel and install ~20 s, prompt audio ~5 s, the demo's two calls ~7 s).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from callcenter.cli.demo_callbacks import SURVEYED
from callcenter.config import PROJECT_ROOT


def _not_source(folder: str, names: list[str]) -> set[str]:
    """What a copy of the source tree leaves out: the virtualenv, caches, build output and local data."""
    skip = {n for n in names if n in {".git", ".venv", "__pycache__"} or n.endswith((".egg-info", "_cache"))}
    if Path(folder) == PROJECT_ROOT:
        skip |= {"build", "dist", "var", "recordings"} & set(names)
    if Path(folder) == PROJECT_ROOT / "scripts":
        skip |= {"sounds"} & set(names)  # prompt audio built here: the wheel carries none
    return skip


@dataclass(frozen=True)
class Installed:
    wheel: Path
    bin: Path
    site: Path
    outside: Path  # the working folder of every command: not the checkout
    env: dict[str, str]

    def run(self, *args: str, config: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        if config is not None:
            env["CALLCENTER_CONFIG"] = str(config)
        return subprocess.run([str(self.bin / "callcenter"), *args], cwd=self.outside, env=env, text=True,
                              capture_output=True, timeout=timeout)


def _pip(python: Path | str, *args: str, cwd: Path) -> None:
    done = subprocess.run([str(python), "-m", "pip", *args], cwd=cwd, text=True, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("install")
    source = base / "source"
    shutil.copytree(PROJECT_ROOT, source, ignore=_not_source)
    _pip(sys.executable, "wheel", "--no-deps", "-q", "-w", str(base / "dist"), str(source), cwd=base)
    (wheel,) = (base / "dist").glob("callcenter-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(base / "venv")], check=True, timeout=300)
    bin_dir = base / "venv" / "bin"
    _pip(bin_dir / "python", "install", "-q", str(wheel), cwd=base)
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(subprocess.run([str(bin_dir / "python"), "-c", where], check=True, capture_output=True,
                               text=True).stdout.strip())
    outside = base / "elsewhere"
    (outside / "home").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CALLCENTER_") and k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
    env.update(HOME=str(outside / "home"), PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
               CALLCENTER_SERVICE__LOG_JSON="false")
    return Installed(wheel, bin_dir, site, outside, env)


def test_the_wheel_carries_the_script_library_the_prompts_and_the_packaged_data(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    library = {p.name for p in (PROJECT_ROOT / "scripts").glob("*.yaml")}
    assert library and {n.removeprefix("callcenter/library/") for n in names
                        if n.count("/") == 2 and n.startswith("callcenter/library/")} == library
    prompts = {p.name for p in (PROJECT_ROOT / "scripts" / "prompts").glob("*.yaml")}
    assert {f"callcenter/library/prompts/{n}" for n in prompts} <= names
    packaged = [p.relative_to(PROJECT_ROOT).as_posix() for p in (PROJECT_ROOT / "callcenter").rglob("*")
                if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
    assert sorted(set(packaged) - names) == []  # every module, migration, template, asset and API document
    assert not [n for n in names if n.endswith(".wav") or n.startswith(("scripts/", "tests/", "var/"))]


def test_an_installed_callcenter_reads_its_own_library_not_a_checkout(installed: Installed) -> None:
    done = subprocess.run(
        [str(installed.bin / "python"), "-c",
         "import callcenter.config as c; print(c.SOURCE_CHECKOUT, c.STANDARD_LIBRARY, c.load_settings().database.url)"],
        cwd=installed.outside, env=installed.env, capture_output=True, text=True, check=True,
    )
    checkout, library, url = done.stdout.split()
    assert checkout == "False"
    assert Path(library) == installed.site / "callcenter" / "library"
    assert url == f"sqlite:///{installed.outside / 'home' / '.local/share/callcenter/var/callcenter.sqlite3'}"
    lint = installed.run("scripts", "lint")  # no data folder, no config: the packaged library alone
    assert lint.returncode == 0, lint.stderr
    assert f"{len(list((PROJECT_ROOT / 'scripts').glob('*.yaml')))} scripts" in lint.stderr


def test_init_then_the_commands_run_from_outside_the_checkout(installed: Installed) -> None:
    data = installed.outside / "centre"
    init = installed.run("init", str(data))
    assert init.returncode == 0, init.stderr
    config = data / "callcenter.toml"
    assert f"CALLCENTER_CONFIG={config}" in init.stdout
    text = config.read_text(encoding="utf-8")
    assert f'url = "sqlite:///{data}/var/callcenter.sqlite3"' in text and "\nbase_directories" not in text
    assert all((data / d).is_dir() for d in ("var", "var/reports", "recordings", "scripts/prompts", "scripts/sounds"))
    assert installed.run("init", str(data)).returncode == 2  # never overwritten

    lint = installed.run("scripts", "lint", config=config)
    assert lint.returncode == 0 and "no problems" in lint.stderr, lint.stdout + lint.stderr

    due = installed.run("tickets", "due", "--category", "complaint", "--at", "2026-09-30T15:00+08:00", "--json",
                        config=config)
    assert due.returncode == 0, due.stderr
    assert "2026-10-13T23:59:59+08:00" in due.stdout  # close: 5 working days, Sat Oct 10 a make-up working day

    report = installed.run("report", "--from", "2026-11-22", "--to", "2026-11-23", "--format", "json", config=config)
    assert report.returncode == 0, report.stderr  # a fresh store: the report brings the schema up itself
    assert json.loads(report.stdout)["window"]["start"] == "2026-11-22T00:00:00+08:00"
    assert (data / "var" / "callcenter.sqlite3").is_file()

    if shutil.which("espeak-ng"):  # ./run test installs it; without audio the demo's prompts are a synthetic voice
        build = installed.run("prompts", "build", "--missing-only", "--locale", "zh-CN", config=config)
        assert build.returncode == 0, build.stderr
        assert len(list((data / "scripts" / "sounds" / "zh-CN").glob("*.wav"))) > 20  # into the data folder

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = installed.run("demo", "--calls", "2", "--speed", "20", "--seed", "7", "--port", str(port),
                         config=config, timeout=180)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "demo stopped after 2 calls" in demo.stdout
    with sqlite3.connect(data / "var" / "demo.sqlite3") as db:  # the demo's own store, in the data folder
        offered = [json.loads(d) for (d,) in db.execute("select data from call_events where type = 'call.offered'")]
    inbound = [d for d in offered if d.get("direction") != "outbound"]
    assert len(inbound) == 2  # and beside them the demo's callback campaign (回访) dials its customers
    assert {d["caller"] for d in offered if d.get("direction") == "outbound"} <= {c.number for c in SURVEYED}
    (record,) = installed.site.glob("callcenter-*.dist-info/RECORD")
    wheel_files = {line.split(",")[0] for line in record.read_text().splitlines()}
    present = {p.relative_to(installed.site).as_posix() for p in (installed.site / "callcenter").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert present - wheel_files == set()  # nothing written into site-packages: built audio, data, all elsewhere


def test_a_centres_own_prompts_and_scripts_win_key_by_key(installed: Installed) -> None:
    data = installed.outside / "override"
    assert installed.run("init", str(data)).returncode == 0
    config = data / "callcenter.toml"
    prompts = data / "scripts" / "prompts" / "zh-CN.yaml"
    prompts.write_text("greeting.short: 您好!{{ center }}热线。\n", encoding="utf-8")
    (data / "scripts" / "hold.yaml").write_text(
        "name: hold\ndescription: the centre's own hold\nstates:\n  a: {say: greeting.center, end: true}\n",
        encoding="utf-8",
    )
    short = installed.run("scripts", "render", "greeting.short", config=config)
    assert short.stdout.strip() == "您好!江南云商热线。", short.stderr
    standard = installed.run("scripts", "render", "greeting.center", config=config)
    assert standard.stdout.strip() == "您好,江南云商客服中心为您服务,请问有什么帮助您?"  # the packaged wording
    lint = installed.run("scripts", "lint", config=config)
    count = len(list((PROJECT_ROOT / "scripts").glob("*.yaml")))
    assert f"{count} scripts" in lint.stderr, lint.stdout + lint.stderr  # hold replaced, not added
    simulated = installed.run("scripts", "simulate", "hold", "--json", config=config)
    assert simulated.returncode == 0 and "greeting.center" in simulated.stdout, simulated.stderr
