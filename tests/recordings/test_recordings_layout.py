"""Storage layout YYYY/MM/DD/<call_id>.<ext> and path-traversal refusal (R-116)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

import pytest

from callcenter.recordings import layout
from callcenter.recordings.errors import UnsafePathError

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_path_uses_the_centres_local_date() -> None:
    # 20:30 UTC on 31 Dec is already 1 Jan in Shanghai: the folder follows the centre's calendar.
    at = datetime(2026, 12, 31, 20, 30, tzinfo=UTC)
    assert layout.relative_path("1700000000.42", at, "wav", SHANGHAI) == PurePosixPath("2027/01/01/1700000000.42.wav")
    assert layout.relative_path("c-1", at, "WAV") == PurePosixPath("2026/12/31/c-1.wav")


@pytest.mark.parametrize("call_id", ["../etc", "a/b", "..", ".hidden", "", "x" * 65, "a\\b", "名字", "a..b"])
def test_unsafe_call_ids_are_refused(call_id: str) -> None:
    with pytest.raises(UnsafePathError):
        layout.relative_path(call_id, datetime(2026, 1, 1, tzinfo=UTC), "wav")


def test_unknown_extension_is_refused() -> None:
    with pytest.raises(UnsafePathError, match="not one of"):
        layout.relative_path("c1", datetime(2026, 1, 1, tzinfo=UTC), "sh")


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        layout.relative_path("c1", datetime(2026, 1, 1), "wav")


def test_resolve_stays_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    assert layout.resolve(root, "2026/01/10/c1.wav") == (root / "2026/01/10/c1.wav").resolve()


@pytest.mark.parametrize(
    "relative",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "2026/01/10/../../../../etc/passwd.wav",
        "2026/01/10/../x.wav",
        "2026/01/x.wav",
        "2026/01/10/sub/c1.wav",
        "abcd/01/10/c1.wav",
        "2026/01/10/c1",
        "2026/01/10/c1.exe",
        "2026\\01\\10\\c1.wav",
        "2026/01/10/..wav",
    ],
)
def test_traversal_and_malformed_paths_are_refused(tmp_path: Path, relative: str) -> None:
    with pytest.raises(UnsafePathError):
        layout.resolve(tmp_path, relative)


def test_symlink_planted_in_the_tree_cannot_lead_outside(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "c1.wav").write_bytes(b"not yours")
    (root / "2026" / "01").mkdir(parents=True)
    (root / "2026" / "01" / "10").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="leaves the recordings root"):
        layout.resolve(root, "2026/01/10/c1.wav")


def test_with_extension_keeps_the_folder() -> None:
    assert layout.with_extension("2026/01/10/c1.wav", "mp3") == PurePosixPath("2026/01/10/c1.mp3")
    with pytest.raises(UnsafePathError):
        layout.with_extension("2026/01/10/c1.wav", "php")


def test_file_symlink_pointing_outside_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    (root / "2026/01/10").mkdir(parents=True)
    (tmp_path / "passwd").write_text("root:x:0:0")
    (root / "2026/01/10/c1.wav").symlink_to(tmp_path / "passwd")
    with pytest.raises(UnsafePathError, match="leaves the recordings root"):
        layout.resolve(root, "2026/01/10/c1.wav")
    folders: dict[str, str] = {}
    assert layout.resolve(root, "2026/01/10/c2.wav", folders=folders).name == "c2.wav"
    assert folders == {"2026/01/10": str((root / "2026/01/10").resolve())}
