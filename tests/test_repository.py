"""The repository stands on its own: every rule it cites is documented in it, and it names nothing outside it.

Checks over the files of the checkout, each with a scratch case below that shows it failing:

1. Every R-number cited in the project (``callcenter/``, ``scripts/``, ``tests/``, ``bench/``, ``docs/`` and
   ``README.md``) has its heading ``### R-NN …`` in ``docs/standards.md``. A range ``R-19..R-21`` (also written
   ``R-19..21``, ``R-107 … R-116`` or ``R-16–R-18``) cites every number from its first to its last.

2. No tracked file (``git ls-files``) names a place above the repository root:

   - an absolute path into the folder that holds the checkout, or into the development workspace ``/work``;
   - a relative path that climbs out with ``..`` to a folder beside the checkout — one that exists there, or
     one of the workspace's own (``shared``, ``.library``, ``.mirror``) — unless, read from the file's own
     folder, it lands on a path that exists inside the repository; and a path that starts at one of the
     workspace's folders (``shared/…``) without existing in the repository;
   - a Markdown link or image whose target, read from the file's folder (``/`` = the repository root),
     leaves the repository, or does not exist in it.

   A ``..`` inside a longer path (``2026/01/10/../x.wav``) or one climbing to ``etc/passwd`` or a made-up
   name (``../x``) is data: the recordings tests feed such ids to check that path traversal is refused; the
   project never reads them. This file names the patterns it looks for and is left out of checks 2 and 3.

3. No file cites the design notes, the rules catalogue or the style guide by the names they had outside the
   repository (their content is ``docs/design.md`` and ``docs/standards.md``).

The checks read the checkout, so they need one: the file list comes from ``git ls-files``, and a run
without git or outside a clone fails and says so rather than passing with nothing checked.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STANDARDS = ROOT / "docs" / "standards.md"
CITING = ("callcenter", "scripts", "tests", "bench", "docs", "README.md")

_CITED = re.compile(r"(?<![0-9A-Za-z_-])R-(\d{1,3})(?:\s*(?:\.\.|…|–)\s*(?:R-)?(\d{1,3}))?(?![0-9A-Za-z])")
_HEADING = re.compile(r"^###\s+R-(\d{2,3})\b", re.MULTILINE)
# Folders of the development workspace beside the checkout; CI's clone has other neighbours.
WORKSPACE = Path("/work")
WORKSPACE_FOLDERS = ("shared", ".library", ".mirror")
_WORKSPACE_PATH = re.compile(rf"(?<![\w./-])(?:{'|'.join(map(re.escape, WORKSPACE_FOLDERS))})(?:/[\w.-]+)+")
_CLIMB = re.compile(r"(?<![\w./-])((?:\.\./)+)([\w.-]+)((?:/[\w.-]+)*)")
_MD_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|^\s*\[[^\]]+\]:\s*<?(\S+?)>?\s*$",
                      re.MULTILINE)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


# ---------------------------------------------------------------- the checkout


def tracked_files(root: Path = ROOT) -> list[Path]:
    """The files of the checkout, from ``git ls-files``; a clear failure when git cannot list them."""
    try:
        done = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True, check=False)
    except OSError as exc:
        pytest.fail(f"these checks read the git checkout, and git did not run: {exc}")
    if done.returncode != 0 or not done.stdout:
        pytest.fail(f"these checks read the git checkout, and `git ls-files` failed in {root}: "
                    f"{done.stderr.decode(errors='replace').strip() or 'no files listed'}")
    return [root / name for name in done.stdout.decode().split("\0") if name]


def text_of(path: Path) -> str | None:
    """The file's text, or None for a binary file (audio, images) or one deleted in the working tree."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")


# ---------------------------------------------------------------- check 1: R-numbers


def cited_rules(text: str) -> set[int]:
    """Every R-number ``text`` cites, ranges expanded (``R-19..R-21`` → 19, 20, 21)."""
    numbers: set[int] = set()
    for m in _CITED.finditer(text):
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) else first
        numbers.update(range(first, max(first, last) + 1))
    return numbers


def reversed_ranges(text: str) -> list[str]:
    """Ranges written backwards (R-21 to R-19 with ``..``): they cite nothing between, so they are mistakes."""
    return [m.group(0) for m in _CITED.finditer(text) if m.group(2) and int(m.group(2)) < int(m.group(1))]


def documented_rules(standards: str) -> list[int]:
    """The R-numbers that have a ``### R-NN`` heading in the standards, in the order of the headings."""
    return [int(n) for n in _HEADING.findall(standards)]


def citing_files(files: Iterable[Path], root: Path = ROOT) -> Iterator[tuple[Path, str]]:
    for path in files:
        rel = path.relative_to(root)
        if rel.parts[0] in CITING and rel != STANDARDS.relative_to(ROOT):
            text = text_of(path)
            if text is not None:
                yield rel, text


def undocumented(files: Iterable[tuple[Path, str]], standards: str) -> dict[str, list[Path]]:
    """Each cited R-number without a heading in the standards → the files that cite it."""
    documented = set(documented_rules(standards))
    missing: dict[str, list[Path]] = {}
    for rel, text in files:
        for n in sorted(cited_rules(text) - documented):
            missing.setdefault(f"R-{n:02d}", []).append(rel)
    return missing


def test_every_cited_rule_has_its_heading_in_the_standards() -> None:
    files = list(citing_files(tracked_files()))
    standards = STANDARDS.read_text(encoding="utf-8")
    assert len(files) > 100
    assert undocumented(files, standards) == {}
    assert [(rel, r) for rel, text in files for r in reversed_ranges(text)] == []


def test_the_standards_have_each_rule_once_in_order() -> None:
    headings = documented_rules(STANDARDS.read_text(encoding="utf-8"))
    assert headings == sorted(set(headings))
    assert headings == list(range(1, 162))  # R-01 … R-161: the whole catalogue


# ---------------------------------------------------------------- check 2: nothing outside the tree


def outside_references(rel: Path, text: str, root: Path = ROOT) -> list[str]:
    """Every place in one file (``rel``, relative to ``root``) that names something above ``root``."""
    found = []
    folder = (root / rel).parent
    above = {str(root.parent)} if root.parent != Path(root.anchor) else set()
    for prefix in sorted(above | {str(WORKSPACE)}):
        for m in re.finditer(rf"(?<![\w./-]){re.escape(prefix)}(?:/[\w.-]+)+", text):
            found.append(f"{rel}:{_line(text, m.start())}: absolute path {m.group(0).rstrip('.')}")
    neighbours = set(WORKSPACE_FOLDERS) | {p.name for p in _siblings(root)}
    for m in _CLIMB.finditer(text):
        name = m.group(2)
        if name in neighbours and not _inside_and_exists(folder / m.group(0), root):
            found.append(f"{rel}:{_line(text, m.start())}: climbs out of the repository: {m.group(0)}")
    for m in _WORKSPACE_PATH.finditer(text):
        if not (_inside_and_exists(folder / m.group(0), root) or _inside_and_exists(root / m.group(0), root)):
            found.append(f"{rel}:{_line(text, m.start())}: names a workspace folder: {m.group(0)}")
    if rel.suffix == ".md":
        for m in _MD_LINK.finditer(text):
            target = (m.group(1) or m.group(2)).split("#", 1)[0].split("?", 1)[0]
            if not target or _SCHEME.match(target):
                continue
            resolved = root / target.lstrip("/") if target.startswith("/") else folder / target
            if not _inside_and_exists(resolved, root):
                found.append(f"{rel}:{_line(text, m.start())}: link outside the repository or to nothing: {target}")
    return found


def _siblings(root: Path) -> list[Path]:
    try:
        return [p for p in root.parent.iterdir() if p.name != root.name]
    except OSError:
        return []


def _inside_and_exists(path: Path, root: Path) -> bool:
    resolved = Path(*_normalised(path))
    return resolved.is_relative_to(root) and resolved.exists()


def _normalised(path: Path) -> list[str]:
    """``a/b/../c`` → ``a/c`` without following symlinks (a link must not escape through ``..`` either)."""
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if len(parts) > 1:
                parts.pop()
        elif part != ".":
            parts.append(part)
    return parts


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


# The design notes, rules catalogue and style guide the project was started from live outside the repository;
# their content is docs/design.md and docs/standards.md.
_OUTSIDE_DOCUMENTS = re.compile(r"(?<![\w/.-])(?:DESIGN\.md|STYLE\.md|service-standards\.md)")


def outside_documents(rel: Path, text: str) -> list[str]:
    """Mentions of the design notes, catalogue or style guide by the file names they had outside the repository."""
    return [f"{rel}:{_line(text, m.start())}: names {m.group(0)} (use docs/design.md or docs/standards.md)"
            for m in _OUTSIDE_DOCUMENTS.finditer(text)]


def _other_tracked_texts() -> Iterator[tuple[Path, str]]:
    """Every tracked text file but this one (which names the patterns it looks for), relative to the root."""
    this = Path(__file__).resolve().relative_to(ROOT)
    for path in tracked_files():
        rel = path.relative_to(ROOT)
        text = text_of(path)
        if text is not None and rel != this:
            yield rel, text


def test_no_file_cites_the_documents_by_their_names_outside_the_repository() -> None:
    assert [f for rel, text in _other_tracked_texts() for f in outside_documents(rel, text)] == []


def test_no_tracked_file_names_a_place_above_the_repository() -> None:
    assert [f for rel, text in _other_tracked_texts() for f in outside_references(rel, text)] == []


# ---------------------------------------------------------------- the checks catch what they are for


def test_rule_citations_and_ranges_are_read_like_a_person_reads_them() -> None:
    text = "R-15 (R-19..R-21; R-16 .. R-18; R-107 … R-116; R-19..21; R-3; also HR-2, R-1x, R-1500)"
    assert cited_rules(text) == {3, 15, 16, 17, 18, 19, 20, 21, *range(107, 117)}
    backwards = "R-21" + "..R-19"  # spelt in two pieces: this file is checked too
    assert reversed_ranges(f"see {backwards}.") == [backwards]
    standards = "### R-15 无声电话\n### R-16 免提\n## R-17 not a rule heading\n"
    assert documented_rules(standards) == [15, 16]
    assert undocumented([(Path("a.py"), "R-15..R-17, R-16")], standards) == {"R-17": [Path("a.py")]}


def test_a_scratch_repository_with_outside_references_is_caught(tmp_path: Path) -> None:
    root = tmp_path / "main"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "design.md").write_text("x")
    (tmp_path / "shared").mkdir()
    sibling, workspace = "../" + "shared/DESIGN.md", str(WORKSPACE) + "/shared/x.md"
    readme = (f"See `{sibling}`, [design](docs/design.md), [up](../../x.md), [gone](docs/gone.md),\n"
              f"[web](https://example.org/a), [here](#top) and {workspace}.\n"
              "The ARI files of ``shared/asterisk-ari-api-docs``.\n")
    assert outside_references(Path("README.md"), readme, root) == [
        f"README.md:2: absolute path {workspace}",
        f"README.md:1: climbs out of the repository: {sibling}",
        "README.md:3: names a workspace folder: shared/asterisk-ari-api-docs",
        "README.md:1: link outside the repository or to nothing: ../../x.md",
        "README.md:1: link outside the repository or to nothing: docs/gone.md",
    ]
    assert outside_documents(Path("a.py"), "# decided in DESIGN.md; see docs/design.md") == [
        "a.py:1: names DESIGN.md (use docs/design.md or docs/standards.md)"]
    probes = 'ids = ["../x", "../../etc/passwd", "2026/01/10/../../../../etc/passwd.wav", ".."]\n'
    assert outside_references(Path("tests/test_layout.py"), probes, root) == []
    assert outside_references(Path("docs/a.md"), "[design](design.md) [same](../docs/design.md)", root) == []
