"""`ostinato arrange piece.toml -o out/` (a piece from its form) and `ostinato transcribe in.wav -o out.mid`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from server.cli.common import add_connection_arguments, connect

CACHE_DIR = ".cache"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "arrange", help="write a whole piece from an arrangement file (form, sections, tracks)",
        description="Writes the piece an arrangement file (TOML, see examples/arrangements/) describes: "
                    "piece.mid (tempo, meter, key signatures, section markers), sections/*.mid, mix.wav, "
                    "stems/*.wav, overview.png and arrangement.json in the output folder. Sections already "
                    "written by an earlier run into the same folder (its .cache) are reused: after editing "
                    "one section only it and what follows from it are written again.")
    parser.add_argument("arrangement", type=Path, help="the arrangement file (.toml)")
    parser.add_argument("-o", "--output-dir", type=Path, required=True, help="folder for the piece's files")
    parser.add_argument("--no-audio", action="store_true", help="MIDI and overview only (no FluidSynth render)")
    parser.add_argument("--no-stems", action="store_true", help="render the mix only")
    parser.add_argument("--soundfont", default="", help="SoundFont name or path (default: the server's)")
    parser.add_argument("--sample-rate", type=int, default=44_100, help="Hz (default 44100)")
    parser.add_argument("--fresh", action="store_true", help="ignore the cache: write every section again")
    parser.add_argument("--check", action="store_true", help="only check the file; print its problems")
    add_connection_arguments(parser)
    parser.set_defaults(handler=arrange)

    parser = subparsers.add_parser(
        "transcribe", help="a recorded melody (WAV) as MIDI (basic-pitch), quantised to a grid",
        description="Transcribes a WAV/FLAC recording with basic-pitch's model. One voice by default (a "
                    "sung, hummed or played melody); notes are quantised to sixteenths at --tempo.")
    parser.add_argument("audio", type=Path, help="a .wav or .flac file")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the .mid file to write")
    parser.add_argument("--tempo", type=float, default=120.0, help="tempo of the grid in bpm (default 120)")
    parser.add_argument("--grid", type=int, default=4, help="grid steps per quarter note (default 4: sixteenths)")
    parser.add_argument("--time-signature", default="4/4", help="meter written into the file (default 4/4)")
    parser.add_argument("--polyphonic", action="store_true", help="keep every note heard (chords)")
    parser.add_argument("--unquantised", action="store_true", help="keep the played timing")
    parser.add_argument("--instrument", default="0", help="instrument name or GM program of the track (default piano)")
    add_connection_arguments(parser)
    parser.set_defaults(handler=transcribe)


def _read_cache(folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    return {path.stem: path.read_bytes() for path in folder.glob("*.json")}


def _write_cache(folder: Path, sections) -> int:  # type: ignore[no-untyped-def]
    """Keeps exactly the entries of this run's sections; returns how many were removed."""
    folder.mkdir(parents=True, exist_ok=True)
    keep = set()
    for section in sections:
        keep.add(section.cache_key)
        path = folder / f"{section.cache_key}.json"
        if not path.exists() or not section.cached:  # a cached section may have gained audio layers
            path.write_bytes(section.cache_entry)
    removed = 0
    for path in folder.glob("*.json"):
        if path.stem not in keep:
            path.unlink()
            removed += 1
    return removed


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def arrange(args: argparse.Namespace) -> int:
    if not args.arrangement.is_file():
        print(f"ostinato: {args.arrangement}: no such file", file=sys.stderr)
        return 2
    out = args.output_dir
    with connect(args) as client:
        if args.check:
            result = client.validate_arrangement(args.arrangement)
            if result.valid:
                print(f"{args.arrangement}: valid, {result.bars} bars, sections: {', '.join(result.sections)}")
                return 0
            for problem in result.problems:
                where = f"{args.arrangement.name}:{problem.line}" if problem.line else args.arrangement.name
                print(f"{where}: {problem.field}: {problem.message}", file=sys.stderr)
            return 1
        cache = {} if args.fresh else _read_cache(out / CACHE_DIR)
        started = time.monotonic()
        last = [started]

        def on_section(section) -> None:  # type: ignore[no-untyped-def]
            now = time.monotonic()
            filled = ", ".join(f"{t.name} {t.bars_with_notes}/{section.bars}" for t in section.tracks)
            state = "cached" if section.cached else f"{now - last[0]:.1f} s"
            print(f"[{section.index + 1}] {section.name:<10} bars {section.start_bar + 1}-{section.start_bar + section.bars}"
                  f"  {section.key}, {section.tempo_bpm:g} bpm  {section.how}  [{filled}]  ({state})", flush=True)
            for notice in section.notices:
                print(f"    note: {notice}", flush=True)
            last[0] = now

        result = client.arrange(args.arrangement, cache=cache, render_audio=not args.no_audio,
                                stems=not args.no_stems, soundfont=args.soundfont, sample_rate_hz=args.sample_rate,
                                on_section=on_section)
    piece = result.piece
    assert piece is not None
    (out / "sections").mkdir(parents=True, exist_ok=True)
    (out / "piece.mid").write_bytes(piece.midi)
    (out / "overview.png").write_bytes(piece.overview_png)
    (out / "arrangement.json").write_text(piece.summary_json)
    for section in result.sections:
        (out / "sections" / f"{section.index + 1:02d}_{_safe(section.name)}.mid").write_bytes(section.midi)
    if result.audio:
        from audio_render.audio_io import encode_wav

        (out / "stems").mkdir(exist_ok=True)
        for stem, samples in result.audio.items():
            path = out / "mix.wav" if stem == "" else out / "stems" / f"{_safe(stem)}.wav"
            path.write_bytes(encode_wav(samples, result.sample_rate_hz))
    _write_cache(out / CACHE_DIR, result.sections)
    written = sum(1 for s in result.sections if not s.cached)
    print(f"{out}/piece.mid: {piece.bars} bars, {piece.duration_s:.1f} s, seed {piece.seed}; "
          f"{written} of {len(result.sections)} sections written, {len(result.sections) - written} from the cache; "
          f"{time.monotonic() - started:.1f} s")
    return 0


def transcribe(args: argparse.Namespace) -> int:
    from server.arrangement.loader import parse_time_signature
    from symbolic.instruments import program_for_name

    from ostinato.errors import InvalidInput

    try:
        program = program_for_name(args.instrument)
        numerator, denominator = parse_time_signature(args.time_signature)
    except InvalidInput as error:
        print(f"ostinato: {error}", file=sys.stderr)
        return 2
    if program < 0:
        print("ostinato: transcribe writes a pitched track: choose a pitched instrument", file=sys.stderr)
        return 2
    with connect(args) as client:
        result = client.transcribe(args.audio, tempo_bpm=args.tempo, steps_per_quarter=args.grid,
                                   polyphonic=args.polyphonic, unquantised=args.unquantised, program=program,
                                   time_signature=(numerator, denominator))
    args.output.write_bytes(result.midi)
    print(f"{args.output}: {result.notes} notes over {result.duration_s:.1f} s")
    return 0
