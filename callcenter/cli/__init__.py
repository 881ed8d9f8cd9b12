"""The ``callcenter`` command.

Each command group lives in its own module of this package with a ``register(subparsers)`` function that
adds its parsers and sets ``handler``; heavy imports happen inside the handlers so ``callcenter --help`` stays
fast. Any of ``callcenter.errors.USER_ERRORS`` reaches the user as one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from callcenter.errors import USER_ERRORS

COMMAND_MODULES = (
    "init",
    "serve",
    "demo",
    "agi",
    "scripts",
    "prompts",
    "tickets",
    "callbacks",
    "recordings",
    "report",
    "users",
    "db",
    "health",
    "asterisk",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callcenter", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--config", help="TOML settings file (default: $CALLCENTER_CONFIG, then built-in defaults)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"callcenter.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"callcenter.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from callcenter.config import load_settings
        from callcenter.logs import configure_logging

        settings = load_settings(args.config)
        configure_logging(settings.service.log_level, json=settings.service.log_json)
        return int(args.handler(args, settings) or 0)
    except USER_ERRORS as exc:
        print(f"callcenter: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
