"""Renderer subcommands: `ostinato render song.mid -o song.wav` and `ostinato soundfonts`."""

from __future__ import annotations

import argparse
import os
import sys
import wave
from pathlib import Path

from typing import TYPE_CHECKING

from server.cli.common import add_connection_arguments, connect, progress_bar, update_bar

if TYPE_CHECKING:  # the client loads when a command runs, not for `--help`
    from server.client.renderer import Effects


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "render",
        help="render a MIDI file to WAV with FluidSynth (optionally one WAV per track)",
        description="Render a MIDI file to a 16-bit WAV with a General MIDI SoundFont. Audio is written "
        "as the server streams it.",
    )
    parser.add_argument("midi", type=Path, help="a .mid file")
    parser.add_argument("-o", "--output", type=Path, help="WAV file to write (default: next to the MIDI file)")
    parser.add_argument(
        "--soundfont", default="", metavar="NAME|PATH",
        help="a SoundFont name (see `ostinato soundfonts`) or a .sf2/.sf3 path in the server's SoundFont folders",
    )
    parser.add_argument("--sample-rate", type=int, default=0, metavar="HZ", help="8000-96000 (default 44100)")
    parser.add_argument("--mono", action="store_true", help="one channel instead of two")
    parser.add_argument("--stems", type=Path, metavar="DIR", help="also write one WAV per track into DIR")
    parser.add_argument("--gain", type=float, default=0.0, help="master gain 0-10 (default 0.5)")
    parser.add_argument("--tail", type=float, metavar="SECONDS", help="audio rendered after the last event (default 2)")
    effects = parser.add_argument_group("effects (0 keeps FluidSynth's default)")
    effects.add_argument("--no-reverb", action="store_true", help="switch reverb off")
    effects.add_argument("--reverb-room-size", type=float, default=0.0, metavar="0-1")
    effects.add_argument("--reverb-damping", type=float, default=0.0, metavar="0-1")
    effects.add_argument("--reverb-width", type=float, default=0.0, metavar="0-100")
    effects.add_argument("--reverb-level", type=float, default=0.0, metavar="0-1")
    effects.add_argument("--no-chorus", action="store_true", help="switch chorus off")
    effects.add_argument("--chorus-voices", type=int, default=0, metavar="0-99")
    effects.add_argument("--chorus-level", type=float, default=0.0, metavar="0-10")
    effects.add_argument("--chorus-speed", type=float, default=0.0, metavar="HZ")
    effects.add_argument("--chorus-depth", type=float, default=0.0, metavar="MS")
    add_connection_arguments(parser)
    parser.set_defaults(handler=render)

    listing = subparsers.add_parser("soundfonts", help="list the SoundFonts the server can use")
    add_connection_arguments(listing)
    listing.set_defaults(handler=soundfonts)


def _effects(args: argparse.Namespace) -> "Effects":
    from server.client.renderer import Effects

    return Effects(
        reverb=not args.no_reverb,
        reverb_room_size=args.reverb_room_size,
        reverb_damping=args.reverb_damping,
        reverb_width=args.reverb_width,
        reverb_level=args.reverb_level,
        chorus=not args.no_chorus,
        chorus_voices=args.chorus_voices,
        chorus_level=args.chorus_level,
        chorus_speed_hz=args.chorus_speed,
        chorus_depth_ms=args.chorus_depth,
    )


def _allow_local_soundfont(args: argparse.Namespace) -> None:
    """Without --server the server runs in this process for this user alone: let it read the
    SoundFont file they named, wherever it is (a remote server only reads its own folders)."""
    if args.server or not args.soundfont:
        return
    path = Path(args.soundfont).expanduser()
    if path.suffix.lower() in (".sf2", ".sf3") and path.is_file():
        from server.settings import DEFAULT_SOUNDFONT_DIRS

        dirs = os.environ.get("OSTINATO_SOUNDFONT_DIRS") or os.pathsep.join(map(str, DEFAULT_SOUNDFONT_DIRS))
        os.environ["OSTINATO_SOUNDFONT_DIRS"] = os.pathsep.join([dirs, str(path.resolve().parent)])
        args.soundfont = str(path.resolve())


def render(args: argparse.Namespace) -> int:
    from server.client.renderer import AudioBlock, AudioStart, RenderNotice, RenderProgress, RenderSummary, safe_file_name

    if not args.midi.is_file():
        print(f"ostinato: no such MIDI file: {args.midi}", file=sys.stderr)
        return 2
    _allow_local_soundfont(args)
    output = args.output or args.midi.with_suffix(".wav")
    if args.stems:
        args.stems.mkdir(parents=True, exist_ok=True)
    writers: dict[str, wave.Wave_write] = {}
    paths: dict[str, Path] = {}
    summary: RenderSummary | None = None
    bar = progress_bar(f"rendering {args.midi.name}")
    finished = False
    try:
        with connect(args) as client:
            events = client.iter_render_midi(
                args.midi.read_bytes(),
                soundfont=args.soundfont,
                sample_rate_hz=args.sample_rate,
                channels=1 if args.mono else 2,
                stems=args.stems is not None,
                effects=_effects(args),
                gain=args.gain,
                tail_s=args.tail,
            )
            for event in events:
                if isinstance(event, RenderProgress):
                    update_bar(bar, event.fraction, event.message)
                elif isinstance(event, AudioStart):
                    path = output if not event.stem else args.stems / f"{safe_file_name(event.stem)}.wav"
                    writer = wave.open(str(path), "wb")
                    writer.setnchannels(event.channels)
                    writer.setsampwidth(2)
                    writer.setframerate(event.sample_rate_hz)
                    writers[event.stem], paths[event.stem] = writer, path
                elif isinstance(event, AudioBlock):
                    writers[event.stem].writeframes(event.pcm_s16le)
                elif isinstance(event, RenderNotice):
                    print(f"note: {event.message}", file=sys.stderr)
                elif isinstance(event, RenderSummary):
                    summary = event
        finished = True
    finally:
        bar.close()
        for writer in writers.values():
            writer.close()
        if not finished:  # no half-written WAV files left behind after an error
            for path in paths.values():
                path.unlink(missing_ok=True)
    if summary is not None:
        speed = summary.duration_s / summary.render_s if summary.render_s > 0 else float("inf")
        print(f"{paths.get('', output)}: {summary.duration_s:.2f} s of audio, peak {summary.peak:.2f}, "
              f"rendered in {summary.render_s:.2f} s ({speed:.0f}x real time)")
        for stem in summary.stems:
            print(f"  stem {stem}: {paths[stem]}")
    return 0


def soundfonts(args: argparse.Namespace) -> int:
    with connect(args) as client:
        found = client.list_soundfonts()
    for sf in found:
        mark = " (default)" if sf.is_default else ""
        print(f"{sf.name:<24} {sf.size_bytes / 1e6:8.1f} MB  {sf.path}{mark}")
    return 0
