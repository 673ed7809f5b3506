"""The `ostinato` command line."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys

from ostinato.errors import OstinatoError
from server.cli import accompany, arrange, bridge, composer, demo, latent, melody, renderer, scale, serve
from server.cli.common import CommandLineError, check_paths, remove_partial_output
from server.settings import SettingsError

# One subcommand module per capability; each adds its own subparsers.
SUBCOMMAND_MODULES = (serve, composer, latent, renderer, melody, accompany, bridge, arrange, demo, scale)


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
        checked = check_paths(args)
    except CommandLineError as error:
        print(f"ostinato: {error}", file=sys.stderr)
        return 2
    # Only a command that runs loads the client and the libraries behind it (`--help` stays fast).
    # stdout carries the command's results (`ostinato serve` announces its address on the first line).
    # pyfluidsynth prints where it found libfluidsynth to stdout at import time when CI is set, and it is
    # imported both by audio_render and, through note_seq, by pretty_midi: import it first, into stderr.
    with contextlib.redirect_stdout(sys.stderr):
        import fluidsynth  # noqa: F401
    from server.client import ServerError

    signal.signal(signal.SIGINT, _interrupted)
    try:
        status = int(args.handler(args) or 0)
    except ServerError as error:
        print(f"ostinato: {error.code.name}: {error.details}", file=sys.stderr)
        status = 1
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as error:
        print(f"ostinato: {error.filename or ''}: {error.strerror or error}", file=sys.stderr)
        status = 1
    except (OstinatoError, SettingsError) as error:  # e.g. `serve` with an empty token or corrupt weights
        print(f"ostinato: {' '.join(str(error).split())}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        remove_partial_output(checked)
        print("ostinato: interrupted", file=sys.stderr)
        sys.stderr.flush()
        os._exit(130)  # an in-process server's threads would otherwise finish their work first
    if status:
        remove_partial_output(checked)
    return status


def _interrupted(_signum: int, _frame: object) -> None:
    # Quiet from here: the in-process server's threads must not print tracebacks of the cancelled call.
    logging.disable(logging.CRITICAL)
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
