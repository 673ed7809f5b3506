"""What every subcommand shares: connecting (to --server, or to an in-process server on loopback —
the same client code path either way) and progress bars."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:  # the client (grpc, numpy) and tqdm load when a command runs, not for `--help`
    from tqdm import tqdm

    from server.client import Client

# The services an in-process run starts, by the module that defines the command (default: all of them).
SERVICES_BY_COMMAND_MODULE = {
    "server.cli.composer": ("composer",),
    "server.cli.latent": ("composer",),  # Vary and Interpolate are Composer calls
    "server.cli.renderer": ("renderer",),
    "server.cli.melody": ("melody",),
}


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--server",
        metavar="HOST:PORT",
        default=os.environ.get("OSTINATO_SERVER"),
        help="a running server to call (env OSTINATO_SERVER); without it the work runs in this process",
    )
    group.add_argument(
        "--token",
        default=os.environ.get("OSTINATO_AUTH_TOKEN"),
        help="bearer token for a server that requires one (env OSTINATO_AUTH_TOKEN)",
    )
    group.add_argument("--tls", action="store_true", help="connect with TLS")
    group.add_argument("--ca-cert", metavar="PEM", help="CA certificate for --tls (default: the system's)")
    group.add_argument("--timeout", type=float, metavar="SECONDS", help="deadline for each call")


@contextlib.contextmanager
def connect(args: argparse.Namespace) -> Iterator["Client"]:
    """Yields a Client for `--server`, or for a server started in this process on a free loopback port
    with only the services the command calls."""
    from server.client import Client

    if args.server:
        root = open(args.ca_cert, "rb").read() if getattr(args, "ca_cert", None) else None
        client = Client(args.server, token=args.token, tls=args.tls, root_certificates=root, timeout_s=args.timeout)
        try:
            client.wait_ready(timeout_s=10.0)
            yield client
        finally:
            client.close()
        return

    from server.app import SERVICE_NAMES, start_server  # only in-process runs pay for loading the server
    from server.settings import settings_from_env

    settings = dataclasses.replace(settings_from_env().with_overrides(host="127.0.0.1", port=0), auth_token=None)
    command_module = getattr(getattr(args, "handler", None), "__module__", "")
    running = start_server(settings, SERVICES_BY_COMMAND_MODULE.get(command_module, SERVICE_NAMES))
    client = Client(running.address, timeout_s=args.timeout)
    try:
        yield client
    finally:
        client.close()
        running.stop(grace_s=1.0)


def progress_bar(description: str, total: float = 1.0) -> "tqdm":
    """A progress bar on stderr for streamed Progress events (update with `bar.n = fraction`); when
    stderr is not a terminal, a silent stand-in (tqdm, ~0.06 s to import, would show nothing there)."""
    if not sys.stderr.isatty():
        return _SilentBar(total)  # type: ignore[return-value]
    from tqdm import tqdm

    return tqdm(total=total, desc=description, file=sys.stderr, unit="", leave=False,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")


class _SilentBar:
    """The part of tqdm's interface the commands use, showing nothing."""

    def __init__(self, total: float) -> None:
        self.n = 0.0
        self.total = total

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        pass

    def refresh(self) -> None:
        pass

    def clear(self) -> None:
        pass

    def close(self) -> None:
        pass


def update_bar(bar: "tqdm", fraction: float, message: str = "") -> None:
    bar.n = max(0.0, min(1.0, fraction)) * bar.total
    if message:
        bar.set_postfix_str(message, refresh=False)
    bar.refresh()


# ---- failing well: one-line errors, outputs that match their name, no partial files -----------------
# Output kinds by the module that defines a command; an -o whose suffix names another kind is refused
# before any work (`generate -o out.wav` would otherwise write MIDI bytes under a .wav name).
OUTPUT_SUFFIXES = {
    "server.cli.composer": (".mid", ".midi"),
    "server.cli.renderer": (".wav",),
    "server.cli.melody": (".wav",),
    "server.cli.accompany": (".wav",),
}


class CommandLineError(Exception):
    """A mistake on the command line, reported as one line and exit status 2."""


def check_paths(args: argparse.Namespace) -> tuple[Path, float | None] | None:
    """Checks a command's -o before any work: suffix of the right kind, a writable directory, not a
    directory itself. Returns (path, its mtime or None when absent) for remove_partial_output."""
    output = getattr(args, "output", None)
    if not isinstance(output, Path):
        return None
    handler = getattr(args, "handler", None)
    allowed = OUTPUT_SUFFIXES.get(getattr(handler, "__module__", ""), ())
    if allowed and output.suffix.lower() not in allowed:
        raise CommandLineError(f"-o {output}: this command writes {allowed[0]} files; name the output "
                               f"{output.with_suffix(allowed[0]).name}")
    if output.is_dir():
        raise CommandLineError(f"-o {output}: is a directory; give a file name")
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise CommandLineError(f"-o {output}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (output.exists() and not os.access(output, os.W_OK)):
        raise CommandLineError(f"-o {output}: cannot write there (permission denied)")
    return output, (output.stat().st_mtime_ns if output.exists() else None)


def remove_partial_output(checked: tuple[Path, float | None] | None) -> None:
    """After a failed or interrupted command: removes the output it started writing (a file that did
    not exist before, or that changed since), so no valid-looking partial file is left behind."""
    if checked is None:
        return
    path, mtime_before = checked
    with contextlib.suppress(OSError):
        if path.exists() and (mtime_before is None or path.stat().st_mtime_ns != mtime_before):
            path.unlink()
