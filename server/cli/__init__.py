"""The `ostinato` command line."""

from __future__ import annotations

import argparse
import contextlib
import sys

# stdout carries the command's results (`ostinato serve` announces its address on the first line).
# pyfluidsynth prints where it found libfluidsynth to stdout at import time when CI is set, and it is
# imported both by audio_render and, through note_seq, by pretty_midi: import it first, into stderr.
with contextlib.redirect_stdout(sys.stderr):
    import fluidsynth  # noqa: F401

from server.cli import arrange, bridge, composer, demo, latent, melody, renderer, serve
from server.client import ServerError

# One subcommand module per capability; each adds its own subparsers.
SUBCOMMAND_MODULES = (serve, composer, latent, renderer, melody, bridge, arrange, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ostinato",
        description="Ostinato: compose MIDI by attributes, render it, turn melodies into audio, and "
        "stream it all into a DAW. Every command runs in this process, or against a running "
        "server with --server HOST:PORT.",
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in SUBCOMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except ServerError as error:
        print(f"ostinato: {error.code.name}: {error.details}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ostinato: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
