"""melody subcommands (filled by the helper working on its issue)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds this area's subcommands."""
