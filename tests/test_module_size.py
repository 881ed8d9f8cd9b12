"""A module holds one idea: none is over 500 lines unless its docstring says why (``Over 500 lines: …``)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 500
REASON = "Over 500 lines:"


def long_modules_without_a_reason(root: Path) -> list[str]:
    found = []
    for path in sorted((root / "callcenter").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        if lines > LIMIT and REASON not in (ast.get_docstring(ast.parse(text)) or ""):
            found.append(f"{path.relative_to(root)}: {lines} lines")
    return found


def test_no_module_is_over_500_lines_without_a_reason_at_its_top() -> None:
    assert long_modules_without_a_reason(ROOT) == []


def test_a_long_module_with_its_reason_passes_and_one_without_fails(tmp_path: Path) -> None:
    package = tmp_path / "callcenter"
    package.mkdir()
    body = "x = 1\n" * (LIMIT + 1)
    (package / "explained.py").write_text(f'"""A table.\n\n{REASON} the R-numbers\' rows."""\n{body}', "utf-8")
    (package / "unexplained.py").write_text(f'"""A table."""\n{body}', "utf-8")
    assert long_modules_without_a_reason(tmp_path) == [f"callcenter/unexplained.py: {LIMIT + 2} lines"]
