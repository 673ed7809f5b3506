"""`ostinato demo`: the main job on the embedded defaults (filled in as capabilities arrive)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds the demo subcommand."""
