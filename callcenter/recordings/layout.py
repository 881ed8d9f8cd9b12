"""Where a recording lives on disk: ``<root>/YYYY/MM/DD/<call_id>.<ext>``, and nowhere else.

Paths are built from a call id and a date, never taken from a request as they are: a call id must match
:data:`CALL_ID_PATTERN`, an extension must be one of :data:`EXTENSIONS`, and every stored relative path is
resolved against the root and refused when the result (after following symlinks) leaves the root. That is
what keeps ``../../etc/passwd`` or a symlink planted in the tree from reaching a file outside the recordings
volume (R-116: nobody may read or delete records by going around the system).
"""

from __future__ import annotations

import functools
import os
import re
from datetime import UTC, datetime, tzinfo
from pathlib import Path, PurePosixPath

from callcenter.recordings.errors import UnsafePathError

# Asterisk unique ids look like "1700000000.42"; ARI channel ids may carry letters and dashes. No slash, no
# leading dot, no "..": a call id is a single path component by construction.
CALL_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Containers we record, archive or serve; anything else is refused before it reaches a path.
EXTENSIONS = frozenset({"wav", "gsm", "ulaw", "alaw", "sln", "mp3", "ogg", "opus", "flac", "webm"})


def check_call_id(call_id: str) -> str:
    """Return ``call_id`` unchanged when it is one safe path component, else raise :class:`UnsafePathError`."""
    if not isinstance(call_id, str) or not CALL_ID_PATTERN.match(call_id) or ".." in call_id:
        raise UnsafePathError(f"call id {call_id!r} is not a safe recording name (letters, digits, . _ -)")
    return call_id


def check_extension(ext: str) -> str:
    """Return the lower-cased extension when it is a known audio container, else raise."""
    clean = ext.lower().lstrip(".")
    if clean not in EXTENSIONS:
        raise UnsafePathError(f"recording format {ext!r} is not one of {', '.join(sorted(EXTENSIONS))}")
    return clean


def relative_path(call_id: str, started_at: datetime, ext: str, tz: tzinfo = UTC) -> PurePosixPath:
    """The stored path of a call's recording, relative to the root; the date is the centre's local date."""
    if started_at.tzinfo is None:
        raise ValueError("started_at must be timezone-aware")
    day = started_at.astimezone(tz)
    return PurePosixPath(f"{day:%Y}", f"{day:%m}", f"{day:%d}", f"{check_call_id(call_id)}.{check_extension(ext)}")


def with_extension(relative: str | PurePosixPath, ext: str) -> PurePosixPath:
    """The same recording's path in another format (the browser copy, the compressed archive)."""
    rel = PurePosixPath(relative)
    return rel.with_name(f"{check_call_id(rel.stem)}.{check_extension(ext)}")


@functools.lru_cache(maxsize=16)
def _real_root(root: str) -> str:
    # The root itself is resolved once per process (the sweeper resolves two paths per recording).
    return os.path.realpath(root)


def resolve(root: Path, relative: str | PurePosixPath, *, folders: dict[str, str] | None = None) -> Path:
    """The absolute path of a stored relative path, refused when it could point outside ``root``.

    Checked twice: lexically (no absolute path, no ``..``, exactly ``YYYY/MM/DD/<name>``) and physically
    (the fully resolved path, symlinks followed, must stay under the resolved root). ``folders`` lets a
    batch caller (the sweeper) share the resolved day folders between files of one batch.
    """
    text = str(relative)
    parts = text.split("/")
    if text.startswith("/") or "\\" in text or len(parts) != 4 or ".." in parts:
        raise UnsafePathError(f"recording path {text!r} is not of the form YYYY/MM/DD/<call_id>.<ext>")
    year, month, day, name = parts
    if not (len(year) == 4 and year.isdigit() and len(month) == 2 and month.isdigit() and len(day) == 2
            and day.isdigit()):
        raise UnsafePathError(f"recording path {text!r} does not start with a YYYY/MM/DD date")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        raise UnsafePathError(f"recording path {text!r} has no format extension")
    check_call_id(stem)
    check_extension(ext)
    base = _real_root(str(root))
    folder = f"{year}/{month}/{day}"
    real_folder = folders.get(folder) if folders is not None else None
    if real_folder is None:
        real_folder = os.path.realpath(os.path.join(base, folder))
        if folders is not None:
            folders[folder] = real_folder
    target = os.path.join(real_folder, name)
    if os.path.islink(target):  # a planted file symlink is followed and judged like a folder one
        target = os.path.realpath(target)
    if not target.startswith(base + os.sep):
        raise UnsafePathError(f"recording path {text!r} leaves the recordings root")
    return Path(target)
