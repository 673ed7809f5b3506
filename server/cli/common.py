"""What every subcommand shares: connecting (to --server, or to an in-process server on loopback —
the same client code path either way) and progress bars."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Iterator

from tqdm import tqdm

from server.client import Client


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
def connect(args: argparse.Namespace) -> Iterator[Client]:
    """Yields a Client for `--server`, or for a server started in this process on a free loopback port."""
    if args.server:
        root = open(args.ca_cert, "rb").read() if getattr(args, "ca_cert", None) else None
        client = Client(args.server, token=args.token, tls=args.tls, root_certificates=root, timeout_s=args.timeout)
        try:
            client.wait_ready(timeout_s=10.0)
            yield client
        finally:
            client.close()
        return

    from server.app import start_server  # only in-process runs pay for loading the server
    from server.settings import settings_from_env

    settings = settings_from_env().with_overrides(host="127.0.0.1", port=0, auth_token="")
    running = start_server(settings)
    client = Client(running.address, timeout_s=args.timeout)
    try:
        yield client
    finally:
        client.close()
        running.stop(grace_s=1.0)


def progress_bar(description: str, total: float = 1.0) -> tqdm:
    """A progress bar on stderr for streamed Progress events (update with `bar.n = fraction`)."""
    return tqdm(total=total, desc=description, file=sys.stderr, unit="", leave=False,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}", disable=not sys.stderr.isatty())


def update_bar(bar: tqdm, fraction: float, message: str = "") -> None:
    bar.n = max(0.0, min(1.0, fraction)) * bar.total
    if message:
        bar.set_postfix_str(message, refresh=False)
    bar.refresh()
