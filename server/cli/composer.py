"""Composer subcommands: describe (more arrive with the symbolic generator)."""

from __future__ import annotations

import argparse
from pathlib import Path

from google.protobuf import text_format

from server.cli.common import add_connection_arguments, connect


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "describe",
        help="parse a MIDI file: notes, tempo, meter, instruments",
        description="Parse a MIDI file on the server and print its NoteSequence summary.",
    )
    parser.add_argument("midi", type=Path, help="a .mid file")
    parser.add_argument("--full", action="store_true", help="print the whole NoteSequence")
    add_connection_arguments(parser)
    parser.set_defaults(handler=describe)


def describe(args: argparse.Namespace) -> int:
    with connect(args) as client:
        description = client.describe_midi(args.midi)
    sequence = description.note_sequence
    if args.full:
        print(text_format.MessageToString(sequence))
        return 0
    programs = sorted({(n.program, n.is_drum) for n in sequence.notes})
    print(f"{args.midi}: {len(sequence.notes)} notes, {sequence.total_time:.2f} s")
    for tempo in sequence.tempos:
        print(f"  tempo {tempo.qpm:.1f} bpm at {tempo.time:.2f} s")
    for ts in sequence.time_signatures:
        print(f"  time signature {ts.numerator}/{ts.denominator} at {ts.time:.2f} s")
    print("  instruments: " + ", ".join("drums" if drum else f"program {p}" for p, drum in programs))
    return 0
