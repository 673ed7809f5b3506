"""`ostinato push clip.mid --session ID`: put a clip into a running session (it launches on the grid like
a generated one), and `ostinato export-session --session ID`: write what was played into a session and
what it played as MIDI files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ostinato.errors import OstinatoError
from server.cli.common import add_connection_arguments, connect


def register(subparsers: argparse._SubParsersAction) -> None:
    push = subparsers.add_parser(
        "push",
        help="put a MIDI clip into a running bridge session (launched on the next bar, or looped in a lane)",
        description="Put a MIDI clip into a running session: it launches on the session's grid (the next bar, "
        "or the next phrase with --launch-bars), in a clip-launcher lane, replacing that lane's clip there.",
    )
    push.add_argument("midi", type=Path, help="the clip (Standard MIDI File)")
    push.add_argument("--session", required=True, metavar="ID", help="the running session (ostinato bridge prints it)")
    push.add_argument("--lane", type=int, default=0, help="clip-launcher lane 0-15 (default 0)")
    push.add_argument("--loop", action="store_true", help="loop the clip until replaced or stopped")
    push.add_argument("--launch-bars", type=int, default=1, metavar="N",
                      help="launch on the next boundary of N bars (1: next bar, 4: next 4-bar phrase)")
    push.add_argument("--launch-immediately", action="store_true", help="launch on the next sixteenth")
    add_connection_arguments(push)
    push.set_defaults(handler=run_push)

    export = subparsers.add_parser(
        "export-session",
        help="write a bridge session's captured input and played output as MIDI files",
    )
    export.add_argument("--session", required=True, metavar="ID")
    export.add_argument("--captured", type=Path, default=Path("captured.mid"), help="what was played into the session")
    export.add_argument("--played", type=Path, default=Path("played.mid"), help="what the session played")
    add_connection_arguments(export)
    export.set_defaults(handler=run_export)


def run_push(args: argparse.Namespace) -> int:
    from daw_bridge.midi import clip_from_midi  # the bridge's MIDI code loads when the command runs

    try:
        data = args.midi.read_bytes()
        clip = clip_from_midi(data)  # refuse a bad file before calling anyone
    except OSError as error:
        print(f"ostinato push: {args.midi}: cannot read it ({error.strerror or error})", file=sys.stderr)
        return 2
    except OstinatoError as error:
        print(f"ostinato push: {args.midi}: {error}", file=sys.stderr)
        return 2
    if not args.server:
        print("ostinato push: --server is required: the session lives on a running server", file=sys.stderr)
        return 2
    with connect(args) as client:
        answer = client.push_clip(args.session, data, lane=args.lane, loop=args.loop, launch_bars=args.launch_bars,
                                  launch_immediately=args.launch_immediately)
    print(f"{answer.request_id}: {clip.note_count} notes, {answer.length_beats:g} beats, launches at beat "
          f"{answer.launch_beat:g} in lane {args.lane}{' (looping)' if args.loop else ''}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    if not args.server:
        print("ostinato export-session: --server is required: the session lives on a running server", file=sys.stderr)
        return 2
    with connect(args) as client:
        answer = client.export_session(args.session)
    args.played.write_bytes(answer.played_midi)
    print(f"played: {args.played}")
    if answer.captured_midi:
        args.captured.write_bytes(answer.captured_midi)
        print(f"captured: {args.captured}")
    else:
        print("captured: nothing was played into the session")
    return 0
