"""Composer subcommands: generate, continue, infill, drumify, groove, parse-text, describe."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from server.cli.common import add_connection_arguments, connect, progress_bar, update_bar

if TYPE_CHECKING:  # the contract and the client load when a command runs, not for `--help`
    from protos.ostinato.v1 import composer_pb2

def format_attributes(attributes: composer_pb2.Attributes) -> str:
    """One line per attribute, for showing a request or a measurement back to the user."""
    from protos.ostinato.v1 import composer_pb2
    from symbolic.attributes import PITCH_CLASS_NAMES

    lines = []
    if attributes.instruments:
        lines.append("instruments: " + ", ".join(
            i.name or ("drums" if i.is_drum else f"program {i.program}") for i in attributes.instruments))
    if attributes.HasField("key"):
        mode = composer_pb2.Mode.Name(attributes.key.mode).removeprefix("MODE_").lower()
        lines.append(f"key: {PITCH_CLASS_NAMES[attributes.key.tonic_pitch_class]} {mode}")
    if attributes.HasField("time_signature"):
        lines.append(f"time signature: {attributes.time_signature.numerator}/{attributes.time_signature.denominator}")
    for name, unit in (("tempo_bpm", " bpm"), ("bars", ""), ("duration_s", " s"), ("style", ""),
                       ("pitch_range_octaves", " octaves"), ("notes_per_bar", ""), ("rhythm_intensity", ""),
                       ("polyphony", "")):
        if attributes.HasField(name):
            value = getattr(attributes, name)
            text = f"{value:.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
            lines.append(f"{name.replace('_', ' ')}: {text}{unit}")
    if attributes.HasField("pitch_range"):
        lines.append(f"pitch range: {attributes.pitch_range.lowest_pitch}-{attributes.pitch_range.highest_pitch}")
    if attributes.HasField("chords"):
        lines.append(f"chords: {attributes.chords}")
    return "\n".join("  " + line for line in lines)


def _add_sampling(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sampling")
    group.add_argument("--seed", type=int, default=0, help="random seed (0: choose one; it is printed)")
    group.add_argument("--temperature", type=float, default=0.0, help="0.1-2.0 (default: the model's)")
    group.add_argument("--top-k", type=int, default=0)


def _add_output(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("-o", "--output", type=Path, default=Path(default), help=f"MIDI file to write ({default})")
    parser.add_argument("--quiet", action="store_true", help="print only the output path")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate", help="compose a clip from attributes or a text prompt",
        description="Compose a MIDI clip. Bars, time signature, tempo and instruments hold exactly; key, "
                    "range and density are steered. Unspecified attributes are chosen by the model.")
    parser.add_argument("text", nargs="?", default="", help='free text, e.g. "a lively jig in D major for fiddle"')
    parser.add_argument("-i", "--instrument", action="append", default=[], dest="instruments",
                        help="instrument name or GM program (repeatable): fiddle, flute, 'acoustic bass', drums, 40")
    parser.add_argument("--key", help="e.g. 'D major', 'E minor', 'G mixolydian'")
    parser.add_argument("--time-signature", "--meter", dest="time_signature", help="e.g. 4/4, 3/4, 6/8")
    parser.add_argument("--tempo", type=float, dest="tempo_bpm", help="tempo in bpm (quarter notes)")
    parser.add_argument("--bars", type=int)
    parser.add_argument("--style", help="jig, reel, hornpipe, polka, waltz, march, air, chorale, folk, ...")
    parser.add_argument("--range-octaves", type=float, dest="pitch_range_octaves")
    parser.add_argument("--pitch-range", help="LOW-HIGH MIDI pitches, e.g. 55-79")
    parser.add_argument("--density", type=float, dest="rhythm_intensity", help="rhythm intensity 0 (sparse) to 1 (dense)")
    parser.add_argument("--polyphony", type=float, help="average notes sounding together")
    parser.add_argument("--duration", type=float, dest="duration_s", help="seconds (sets bars from the tempo)")
    parser.add_argument("--chords", help="one chord per bar: 'C G Am F' or Roman numerals 'I V vi IV' (repeats)")
    parser.add_argument("--chords-from", type=Path, dest="chords_from", help="a .mid file whose chords to follow")
    parser.add_argument("--role", action="append", default=[], dest="roles",
                        help="INSTRUMENT=ROLE (repeatable), e.g. cello=bass; roles: melody, counter-melody, "
                             "chords, pad, bass, drums, arpeggio")
    _add_sampling(parser)
    parser.add_argument("--candidates", type=int, default=0,
                        help="best-of-N: sample N clips and keep the best match of key/range/density (1-8)")
    _add_output(parser, "generated.mid")
    add_connection_arguments(parser)
    parser.set_defaults(handler=generate)

    parser = subparsers.add_parser("continue", help="continue a MIDI clip by some bars",
                                   description="Continue a primer clip in its meter, tempo and instruments.")
    parser.add_argument("primer", type=Path, help="a .mid file")
    parser.add_argument("--bars", type=int, default=8, help="bars to add (default 8)")
    parser.add_argument("--only-new", action="store_true", help="write only the new bars, not primer + new")
    section = parser.add_argument_group("a new section from the boundary on (unset: as the primer goes on)")
    section.add_argument("--key", help="new key, e.g. 'A minor', 'Bb' (mode kept)")
    section.add_argument("--tempo", type=float, dest="tempo_bpm", help="new tempo in bpm")
    section.add_argument("--time-signature", "--meter", dest="time_signature", help="new meter, e.g. 3/4")
    section.add_argument("--density", type=float, dest="rhythm_intensity", help="rhythm intensity 0 (sparse) to 1 (dense)")
    section.add_argument("--instrument", "-i", action="append", default=[], dest="instruments",
                         help="the exact instruments playing after the boundary (repeatable)")
    section.add_argument("--enter", action="append", default=[], help="an instrument that joins (repeatable)")
    section.add_argument("--leave", action="append", default=[], help="an instrument that stops (repeatable)")
    _add_sampling(parser)
    _add_output(parser, "continued.mid")
    add_connection_arguments(parser)
    parser.set_defaults(handler=continue_clip)

    parser = subparsers.add_parser("infill", help="regenerate chosen bars of a MIDI clip",
                                   description="Regenerate chosen bars (optionally of chosen tracks), keeping the rest.")
    parser.add_argument("midi", type=Path, help="a .mid file")
    parser.add_argument("--bars", required=True, help="zero-based bars, e.g. '2,3' or '4-7'")
    parser.add_argument("--tracks", default="", help="zero-based tracks to regenerate (default: all)")
    _add_sampling(parser)
    _add_output(parser, "infilled.mid")
    add_connection_arguments(parser)
    parser.set_defaults(handler=infill)

    parser = subparsers.add_parser(
        "drumify", help="a drum part that follows a clip's rhythm",
        description="Write drums for a MIDI clip: kick on its bass line and strongest onsets, hats on its "
                    "onsets, the groove library's backbeat; silent bars stay silent.")
    parser.add_argument("midi", type=Path, help="a .mid file with pitched notes")
    parser.add_argument("--merge", action="store_true", help="write the whole clip with the drums added "
                                                             "(default: the drum track alone)")
    parser.add_argument("--style", default="", help="groove style: rock, pop, shuffle, ballad, reel, jig, waltz, ...")
    parser.add_argument("--seed", type=int, default=0, help="chooses among the meter's grooves (0: the first)")
    _add_output(parser, "drums.mid")
    add_connection_arguments(parser)
    parser.set_defaults(handler=drumify)

    parser = subparsers.add_parser(
        "groove", help="humanise a quantised clip's timing and velocities",
        description="Humanise a quantised MIDI clip with a groove model trained on performed MIDI "
                    "(POP909): timing that drifts like a player's, accents by metric position. Notes, "
                    "pitches, durations and every other event are kept.")
    parser.add_argument("midi", type=Path, help="a .mid file")
    parser.add_argument("--amount", type=float, default=1.0, help="0 (unchanged) to 1 (the model's full groove)")
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same result (0: choose one; it is printed)")
    _add_output(parser, "humanised.mid")
    add_connection_arguments(parser)
    parser.set_defaults(handler=groove)

    parser = subparsers.add_parser("parse-text", help="show the attributes a text prompt maps to",
                                   description="Map free text to composition attributes (offline rules).")
    parser.add_argument("text")
    add_connection_arguments(parser)
    parser.set_defaults(handler=parse_text)

    parser = subparsers.add_parser(
        "describe", help="parse a MIDI file: notes, tempo, meter, instruments, key",
        description="Parse a MIDI file on the server and print its summary and measured attributes.")
    parser.add_argument("midi", type=Path, help="a .mid file")
    parser.add_argument("--full", action="store_true", help="print the whole NoteSequence")
    add_connection_arguments(parser)
    parser.set_defaults(handler=describe)


def _indexes(text: str) -> list[int]:
    out: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if "-" in part:
            low, high = part.split("-", 1)
            out.extend(range(int(low), int(high) + 1))
        else:
            out.append(int(part))
    return out


def _write(args: argparse.Namespace, clip: composer_pb2.Clip) -> int:
    args.output.write_bytes(clip.midi)
    if args.quiet:
        print(args.output)
        return 0
    print(f"wrote {args.output} (seed {clip.seed})")
    print("requested:\n" + format_attributes(clip.requested))
    print("measured:\n" + format_attributes(clip.measured))
    return 0


def _run_with_progress(description: str, call):  # type: ignore[no-untyped-def]
    bar = progress_bar(description)
    try:
        return call(lambda progress: update_bar(bar, progress.fraction, progress.message))
    finally:
        bar.close()


def generate(args: argparse.Namespace) -> int:
    from server.client.composer import make_attributes

    pitch_range = None
    if args.pitch_range:
        low, high = args.pitch_range.split("-")
        pitch_range = (int(low), int(high))
    try:
        attributes = make_attributes(
            instruments=[int(i) if i.isdigit() else i for i in args.instruments], key=args.key,
            time_signature=args.time_signature, tempo_bpm=args.tempo_bpm, bars=args.bars, style=args.style,
            pitch_range=pitch_range, pitch_range_octaves=args.pitch_range_octaves,
            rhythm_intensity=args.rhythm_intensity, polyphony=args.polyphony, duration_s=args.duration_s,
            chords=args.chords, roles=_roles(args.roles))
        chords_midi = args.chords_from.read_bytes() if args.chords_from else b""
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # The server merges the text with the explicit attributes (one rule: server.application.text).
    with connect(args) as client:
        clip = _run_with_progress("generate", lambda on_progress: client.generate(
            attributes, text=args.text, seed=args.seed, temperature=args.temperature, top_k=args.top_k,
            candidates=args.candidates, chords_midi=chords_midi, on_progress=on_progress))
    return _write(args, clip)


def _roles(pairs: list[str]) -> dict[str | int, str]:
    """'cello=bass' -> {'cello': 'bass'}; a program number stays a number."""
    roles: dict[str | int, str] = {}
    for pair in pairs:
        instrument, separator, role = pair.partition("=")
        if not separator or not instrument.strip() or not role.strip():
            raise ValueError(f"--role {pair!r}: write INSTRUMENT=ROLE, e.g. cello=bass")
        name = instrument.strip()
        roles[int(name) if name.isdigit() else name] = role.strip()
    return roles


def continue_clip(args: argparse.Namespace) -> int:
    from server.client.composer import make_attributes

    def number_or_name(values: list[str]) -> list[str | int]:
        return [int(value) if value.isdigit() else value for value in values]

    try:
        changes = None
        if args.key or args.tempo_bpm or args.time_signature or args.rhythm_intensity is not None or args.instruments:
            changes = make_attributes(instruments=number_or_name(args.instruments), key=args.key,
                                      tempo_bpm=args.tempo_bpm, time_signature=args.time_signature,
                                      rhythm_intensity=args.rhythm_intensity)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with connect(args) as client:
        clip = _run_with_progress("continue", lambda on_progress: client.continue_midi(
            args.primer, args.bars, continuation_only=args.only_new, changes=changes,
            entering=number_or_name(args.enter), leaving=number_or_name(args.leave), seed=args.seed,
            temperature=args.temperature, top_k=args.top_k, on_progress=on_progress))
    return _write(args, clip)


def infill(args: argparse.Namespace) -> int:
    with connect(args) as client:
        clip = _run_with_progress("infill", lambda on_progress: client.infill(
            args.midi, _indexes(args.bars), tracks=_indexes(args.tracks), seed=args.seed,
            temperature=args.temperature, top_k=args.top_k, on_progress=on_progress))
    return _write(args, clip)


def _write_edited(args: argparse.Namespace, clip: composer_pb2.Clip, what: str) -> int:
    args.output.write_bytes(clip.midi)
    if args.quiet:
        print(args.output)
        return 0
    print(f"wrote {args.output} ({what}, seed {clip.seed})")
    print("measured:\n" + format_attributes(clip.measured))
    return 0


def drumify(args: argparse.Namespace) -> int:
    midi = args.midi.read_bytes()  # a missing file: one line, before a server starts
    with connect(args) as client:
        clip = _run_with_progress("drumify", lambda on_progress: client.drumify(
            midi, style=args.style, merge=args.merge, seed=args.seed, on_progress=on_progress))
    drums = sum(1 for note in clip.note_sequence.notes if note.is_drum)
    return _write_edited(args, clip, f"{drums} drum notes" + (", merged into the clip" if args.merge else ""))


def groove(args: argparse.Namespace) -> int:
    midi = args.midi.read_bytes()
    with connect(args) as client:
        clip = _run_with_progress("groove", lambda on_progress: client.groove(
            midi, amount=args.amount, seed=args.seed, on_progress=on_progress))
    return _write_edited(args, clip, f"amount {args.amount:g}")


def parse_text(args: argparse.Namespace) -> int:
    with connect(args) as client:
        response = client.parse_text(args.text)
    print("attributes:\n" + (format_attributes(response.attributes) or "  (none)"))
    print("understood:\n" + "\n".join("  " + u for u in response.understood) if response.understood else "understood: nothing")
    if response.ignored:
        print("ignored: " + " ".join(response.ignored))
    return 0


def describe(args: argparse.Namespace) -> int:
    with connect(args) as client:
        description = client.describe_midi(args.midi)
    sequence = description.note_sequence
    if args.full:
        from google.protobuf import text_format

        print(text_format.MessageToString(sequence))
        return 0
    programs = sorted({(n.program, n.is_drum) for n in sequence.notes})
    print(f"{args.midi}: {len(sequence.notes)} notes, {sequence.total_time:.2f} s")
    for tempo in sequence.tempos:
        print(f"  tempo {tempo.qpm:.1f} bpm at {tempo.time:.2f} s")
    for ts in sequence.time_signatures:
        print(f"  time signature {ts.numerator}/{ts.denominator} at {ts.time:.2f} s")
    print("  instruments: " + ", ".join("drums" if drum else f"program {p}" for p, drum in programs))
    print("attributes:\n" + format_attributes(description.attributes))
    return 0
