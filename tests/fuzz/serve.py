"""A server for the fuzz and fault tests, in its own process, optionally under an address-space cap.

    python -m tests.fuzz.serve [--memory-cap-mb N] [--workers N] [--max-queued N] [--soundfont NAME]

Prints "port N" on stdout once serving; SIGTERM stops it gracefully (in-flight calls finish).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import resource
import signal
import sys
import threading

# stdout carries "port N": pyfluidsynth announces its library on stdout at import when CI is set.
with contextlib.redirect_stdout(sys.stderr):
    import fluidsynth  # noqa: F401

from tests.conftest import TEST_SOUNDFONT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--memory-cap-mb", type=int, default=0, help="RLIMIT_AS in MiB (0: none)")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--max-queued", type=int, default=64)
    parser.add_argument("--max-streams", type=int, default=128)
    parser.add_argument("--soundfont", default=TEST_SOUNDFONT)
    parser.add_argument("--grace-s", type=float, default=10.0)
    parser.add_argument("--auth-token", default=None)
    args = parser.parse_args(argv)
    if args.memory_cap_mb:
        cap = args.memory_cap_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from server.app import start_server
    from server.settings import Settings

    settings = Settings(host="127.0.0.1", port=0, default_soundfont=args.soundfont, workers=args.workers,
                        max_queued_calls=args.max_queued, max_stream_calls=args.max_streams,
                        shutdown_grace_s=args.grace_s, auth_token=args.auth_token)
    running = start_server(settings)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    print(f"port {running.port}", flush=True)
    stopping.wait()
    running.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
