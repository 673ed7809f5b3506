"""`ostinato serve`: run the gRPC server."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from server.cli import scale
from server.settings import settings_from_env


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the gRPC server",
        description="Run the Ostinato gRPC server (all services, health checking and reflection). "
        "Every flag can also be set by an OSTINATO_* environment variable; flags win.",
    )
    parser.add_argument("--host", help="interface to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    parser.add_argument("--port", type=int, help="port (default 50051; 0 picks a free one)")
    parser.add_argument("--workers", type=int, help="calls doing work at once; more wait in a bounded queue (default 64)")
    parser.add_argument("--max-message-bytes", type=int, help="largest request or response message")
    parser.add_argument("--auth-token", help="require 'authorization: Bearer TOKEN' on every call")
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate chain; with --tls-key enables TLS")
    parser.add_argument("--tls-key", type=Path, help="PEM private key")
    parser.add_argument("--soundfont-dir", type=Path, action="append", help="directory of .sf2/.sf3 files (repeatable)")
    parser.add_argument("--default-soundfont", help="SoundFont name or path used when a request names none")
    parser.add_argument("--composer-model", type=Path, help="directory of a symbolic model (default: the embedded one)")
    parser.add_argument("--melody-model", type=Path, help="directory of a melody model: embedded, transformers or audiocraft layout")
    parser.add_argument("--preload", action=argparse.BooleanOptionalAction, default=True,
                        help="load every model before reporting SERVING (default); --no-preload loads each "
                             "on its first use")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING...")
    scale.add_serve_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from server.app import serve_forever

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings_from_env().with_overrides(
        host=args.host,
        port=args.port,
        workers=args.workers,
        max_message_bytes=args.max_message_bytes,
        auth_token=args.auth_token,
        tls_cert_file=args.tls_cert,
        tls_key_file=args.tls_key,
        soundfont_dirs=tuple(args.soundfont_dir) if args.soundfont_dir else None,
        default_soundfont=args.default_soundfont,
        composer_model_dir=args.composer_model,
        melody_model_dir=args.melody_model,
        preload_models=args.preload,
    )
    if bool(settings.tls_cert_file) != bool(settings.tls_key_file):
        raise SystemExit("ostinato serve: --tls-cert and --tls-key go together")
    if args.ray:
        return scale.serve_on_ray(args, settings)
    serve_forever(settings)
    return 0
