"""Latent-space subcommands: `ostinato vary` and `ostinato interpolate`."""

from __future__ import annotations

import argparse
from pathlib import Path

from protos.ostinato.v1 import composer_pb2
from server.cli.common import add_connection_arguments, connect, progress_bar, update_bar


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


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "vary", help="variations of a 2-4 bar melody clip (latent space)",
        description="Encode the melody of a 2-4 bar clip into the latent space and decode points near it "
                    "(longer clips are varied two bars at a time). "
                    "Multi-track files: the non-drum track with the highest mean pitch is used. Outputs keep "
                    "the input's meter and tempo.")
    parser.add_argument("midi", type=Path, help="a .mid file")
    parser.add_argument("-n", "--num-variations", type=int, default=4, help="1-16 (default 4)")
    parser.add_argument("-d", "--distance", type=float, default=0.3,
                        help="0 = the clip's reconstruction ... 1 = unrelated (default 0.3)")
    parser.add_argument("--shift", action="append", default=[], type=_parse_shift, metavar="ATTRIBUTE=SD",
                        help="move along an attribute vector, in standard deviations (repeatable): "
                             "notes_per_bar=1 (denser), pitch_range_octaves=-1, mean_pitch=1, rhythm_intensity=1")
    parser.add_argument("-o", "--output-dir", type=Path, default=Path("variations"))
    _add_sampling(parser)
    add_connection_arguments(parser)
    parser.set_defaults(handler=vary)

    parser = subparsers.add_parser(
        "interpolate", help="blend two clips through the latent space in N steps",
        description="Interpolate between the melodies of two 2-4 bar clips (longer ones go two bars at a time), "
                    "endpoints included "
                    "(the first and last outputs are the model's reconstructions of the inputs).")
    parser.add_argument("start", type=Path, help="the first .mid file")
    parser.add_argument("end", type=Path, help="the second .mid file")
    parser.add_argument("--steps", type=int, default=8, help="clips to write, 1-16 (default 8)")
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


def vary(args: argparse.Namespace) -> int:
    bar = progress_bar("vary")
    with connect(args) as client:
        clips = client.vary(args.midi, args.num_variations, similarity_distance=args.distance,
                            shifts=dict(args.shift), seed=args.seed, temperature=args.temperature,
                            top_k=args.top_k, on_progress=lambda p: update_bar(bar, p.fraction, p.message))
    bar.close()
    _write(clips, args.output_dir, args.midi.stem + "_var")
    return 0


def interpolate(args: argparse.Namespace) -> int:
    bar = progress_bar("interpolate")
    with connect(args) as client:
        clips = client.interpolate(args.start, args.end, args.steps, seed=args.seed, temperature=args.temperature,
                                   top_k=args.top_k, on_progress=lambda p: update_bar(bar, p.fraction, p.message))
    bar.close()
    _write(clips, args.output_dir, "interp")
    return 0
