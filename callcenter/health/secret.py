"""How ``callcenter health`` proves to the running service that it may read the details without a sign-in.

The CLI runs on the service's machine as its operator, who can read the web session key (``web.secret_key``,
or the generated ``web.secret_file``); it sends an HMAC of that key, which the service recomputes. Nobody who
cannot read the key learns more than ``/healthz`` and ``/readyz`` say (alive, ready).
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

HEADER = "x-callcenter-health"
_PURPOSE = b"callcenter health v1"


def health_token(secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), _PURPOSE, hashlib.sha256).hexdigest()


def token_matches(secret: str, given: str) -> bool:
    return bool(given) and hmac.compare_digest(health_token(secret), given)


def read_secret(configured: str, path: Path) -> str | None:
    """The web session key as the service uses it, without creating one (None: there is none to read)."""
    if configured:
        return configured
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return key or None
