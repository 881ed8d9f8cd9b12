"""The layer contracts of pyproject.toml: complete, kept by the code, and able to fail.

``lint-imports`` runs in ``./run test``; these tests show that a forbidden import really breaks it (on a
scratch copy of the package, never on the checkout) and that every package has its place in the contracts.
"""

from __future__ import annotations

import os
import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}


def top_level_modules() -> set[str]:
    return {f"callcenter.{m.name}" for m in pkgutil.iter_modules([str(ROOT / "callcenter")])}


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the package under ``root`` (its own pyproject.toml, its own copy of callcenter)."""
    env = {**os.environ, "PYTHONPATH": str(root), "NO_COLOR": "1"}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A copy of the package and its pyproject.toml, to break on purpose."""
    shutil.copytree(ROOT / "callcenter", tmp_path / "callcenter", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_import(root: Path, module: str, line: str) -> None:
    path = root / Path(*module.split(".")).with_suffix(".py")
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # scratch: a forbidden import\n", "utf-8")


def test_the_checkout_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("callcenter.scripting.notes", "from callcenter.config import Settings", "The script engine"),
        ("callcenter.metrics.figures", "import callcenter.telephony.agi.codec", "imported only by the edge"),
        # The health board reads the adapters only through the probes the edge registers (cli/health_probes.py).
        ("callcenter.health.board", "from callcenter.telephony.ari import client", "imported only by the edge"),
        ("callcenter.sim.clock", "from callcenter.telephony.ari import client", "The simulator shares no code"),
        ("callcenter.tickets.views", "import panoramisk", "Work orders, recordings and callbacks know no Asterisk"),
        ("callcenter.callbacks.queue", "import aioari", "Work orders, recordings and callbacks know no Asterisk"),
        ("callcenter.tickets.views", "import callcenter.callbacks.queue", "The house, top down"),
        ("callcenter.calls.rings", "from callcenter.calls import runner", "No circles"),
        # The board hears of the job locks through on_state callbacks the edge wires (cli/serve.py), not an import.
        ("callcenter.health.registry", "import callcenter.jobs.exclusive", "The house, top down"),
    ],
)
def test_a_forbidden_import_breaks_lint_imports(scratch: Path, module: str, line: str, broken: str) -> None:
    add_import(scratch, module, line)
    result = lint_imports(scratch)
    assert result.returncode != 0
    assert broken in result.stdout and "BROKEN" in result.stdout


def test_the_engine_contract_names_every_other_module_of_the_project() -> None:
    forbidden = set(contracts()["engine"]["forbidden_modules"])
    assert forbidden == top_level_modules() - {"callcenter.scripting"}


def test_every_module_of_the_project_has_one_layer() -> None:
    layers = [name.strip() for layer in contracts()["layers"]["layers"] for name in layer.split("|")]
    assert sorted(layers) == sorted(top_level_modules())
