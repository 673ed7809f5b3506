"""Latent-space subcommands: `ostinato vary` and `ostinato interpolate`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from server.cli.common import add_connection_arguments, connect, progress_bar, update_bar

if TYPE_CHECKING:  # the contract loads when a command runs, not for `--help`
    from protos.ostinato.v1 import common_pb2, composer_pb2


def _add_sampling(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sampling")
    group.add_argument("--seed", type=int, default=0, help="random seed (0: choose one; it is printed)")
    group.add_argument("--temperature", type=float, default=0.0,
                       help="0 decodes greedily (default); 0.1-2.0 samples every step")
    group.add_argument("--top-k", type=int, default=0)


def _parse_shift(text: str) -> tuple[str, float]:
    name, _, amount = text.partition("=")
    try:
        return name.strip(), float(amount) if amount else 1.0
    except ValueError:
        raise argparse.ArgumentTypeError(f"cannot read the shift {text!r}; write e.g. notes_per_bar=1.5") from None


FAMILY_HELP = ("the model: melody, bass (the 2-bar line model, read in 2-bar pieces; bass takes the lowest "
               "track unless --track names one), melody_16bar, bass_16bar (the 16-bar hierarchical model, "
               "clips of 16/32/48/64 bars), drums, trio (melody, bass and drums; --track MELODY,BASS); "
               "default: chosen by the file's tracks, said in a notice")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "vary", help="variations of a melody or bass clip (latent space)",
        description="Encode a melody or bass line into the latent space and decode points near it "
                    "(the 2-bar model reads clips two bars at a time; the 16-bar model, with --family, "
                    "reads whole 16-bar sections). "
                    "Multi-track files: one line is varied, the --track you name, else a track named like a "
                    "melody, else the highest of the tracks that sound in most bars; a notice says which was "
                    "taken and what was left out or changed. Outputs keep the input's meter, tempo and register.")
    parser.add_argument("midi", type=Path, help="a .mid file")
    parser.add_argument("-n", "--num-variations", type=int, default=4, help="1-16 (default 4)")
    parser.add_argument("-d", "--distance", type=float, default=0.3,
                        help="0 = the clip's reconstruction ... 1 = unrelated (default 0.3)")
    parser.add_argument("--shift", action="append", default=[], type=_parse_shift, metavar="ATTRIBUTE=SD",
                        help="move along an attribute vector, in standard deviations (repeatable): "
                             "notes_per_bar=1 (denser), pitch_range_octaves=-1, mean_pitch=1, rhythm_intensity=1")
    parser.add_argument("--track", default="", metavar="NAME|INDEX",
                        help="the track of a multi-track file to vary: its name or zero-based index")
    parser.add_argument("--family", default="", help=FAMILY_HELP)
    parser.add_argument("-o", "--output-dir", type=Path, default=Path("variations"))
    _add_sampling(parser)
    add_connection_arguments(parser)
    parser.set_defaults(handler=vary)

    parser = subparsers.add_parser(
        "interpolate", help="blend two clips through the latent space in N steps",
        description="Interpolate between two melody or bass clips (the 2-bar model reads them two bars at a "
                    "time; --family melody_16bar takes whole 16-bar sections), "
                    "endpoints included "
                    "(the first and last outputs are the model's reconstructions of the inputs).")
    parser.add_argument("start", type=Path, help="the first .mid file")
    parser.add_argument("end", type=Path, help="the second .mid file")
    parser.add_argument("--steps", type=int, default=8, help="clips to write, endpoints included, 2-16 (default 8)")
    parser.add_argument("--track", default="", metavar="NAME|INDEX",
                        help="the track to take from multi-track files (name or zero-based index), both ends")
    parser.add_argument("--start-track", default=None, metavar="NAME|INDEX", help="the start file's track")
    parser.add_argument("--end-track", default=None, metavar="NAME|INDEX", help="the end file's track")
    parser.add_argument("--family", default="", help=FAMILY_HELP)
    parser.add_argument("-o", "--output-dir", type=Path, default=Path("interpolation"))
    _add_sampling(parser)
    add_connection_arguments(parser)
    parser.set_defaults(handler=interpolate)


def _write(clips: list[composer_pb2.Clip], directory: Path, stem: str) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, clip in enumerate(clips, start=1):
        path = directory / f"{stem}_{index:02d}.mid"
        path.write_bytes(clip.midi)
        notes = len(clip.note_sequence.notes)
        print(f"{path}  ({notes} notes, {clip.measured.notes_per_bar:.1f} per bar)")
        paths.append(path)
    if clips:
        print(f"seed {clips[0].seed}")
    return paths


def _print_notice(notice: common_pb2.Notice) -> None:
    print(f"notice ({notice.code}): {notice.message}", file=sys.stderr)


def vary(args: argparse.Namespace) -> int:
    bar = progress_bar("vary")
    with connect(args) as client:
        clips = client.vary(args.midi, args.num_variations, similarity_distance=args.distance,
                            shifts=dict(args.shift), seed=args.seed, temperature=args.temperature,
                            top_k=args.top_k, track=args.track, family=args.family, on_notice=_print_notice,
                            on_progress=lambda p: update_bar(bar, p.fraction, p.message))
    bar.close()
    _write(clips, args.output_dir, args.midi.stem + "_var")
    return 0


def interpolate(args: argparse.Namespace) -> int:
    bar = progress_bar("interpolate")
    with connect(args) as client:
        clips = client.interpolate(
            args.start, args.end, args.steps, seed=args.seed, temperature=args.temperature, top_k=args.top_k,
            start_track=args.track if args.start_track is None else args.start_track,
            end_track=args.track if args.end_track is None else args.end_track, family=args.family,
            on_notice=_print_notice,
            on_progress=lambda p: update_bar(bar, p.fraction, p.message))
    bar.close()
    _write(clips, args.output_dir, "interp")
    return 0
