"""Melody subcommands: `ostinato melody song.mid --text "warm strings" --duration 20 -o out.wav` and
`ostinato melody-model`. The input may be MIDI (rendered with FluidSynth first) or WAV/FLAC audio."""

from __future__ import annotations

import argparse
import sys
import wave
from pathlib import Path

from typing import TYPE_CHECKING

from server.cli.common import add_connection_arguments, connect, progress_bar, update_bar

if TYPE_CHECKING:
    from server.client.melody import MelodySummary

MIDI_SUFFIXES = {".mid", ".midi", ".smf", ".kar"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "melody",
        help="generate new audio that follows a melody (MIDI, WAV or FLAC) and a text prompt",
        description="Generate audio that follows the melody of a MIDI or audio file, in the manner of "
        "MusicGen-melody (argmax chroma conditioning). Audio is written as the server streams it.",
    )
    parser.add_argument("melody", type=Path, help="a .mid file (rendered first) or a WAV/FLAC recording")
    parser.add_argument("-o", "--output", type=Path, help="WAV file to write (default: <melody>.generated.wav)")
    parser.add_argument("--text", default="", help='what it should sound like, e.g. "warm strings"')
    parser.add_argument("--duration", type=float, default=0.0, metavar="SECONDS",
                        help="seconds to generate (default: the melody's length)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--guidance", type=float, default=0.0, help="classifier-free guidance scale (default: the model's, 3)")
    parser.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default: the model's)")
    parser.add_argument("--top-k", type=int, default=0, help="top-k sampling (default: the model's)")
    parser.add_argument("--remove-drums-bass", action="store_true",
                        help="remove drums and bass before the chroma (needs a separation model on the server)")
    parser.add_argument("--soundfont", default="", metavar="NAME|PATH", help="SoundFont for rendering a MIDI melody")
    add_connection_arguments(parser)
    parser.set_defaults(handler=melody)

    describe = subparsers.add_parser("melody-model", help="describe the server's melody model")
    add_connection_arguments(describe)
    describe.set_defaults(handler=melody_model)


def melody(args: argparse.Namespace) -> int:
    from server.client.melody import MelodyAudioBlock, MelodyAudioStart, MelodyNotice, MelodyProgress, MelodySummary

    if not args.melody.is_file():
        print(f"ostinato: no such file: {args.melody}", file=sys.stderr)
        return 2
    data = args.melody.read_bytes()
    is_midi = args.melody.suffix.lower() in MIDI_SUFFIXES or data[:4] == b"MThd"
    output = args.output or args.melody.with_suffix(".generated.wav")
    bar = progress_bar(f"generating from {args.melody.name}")
    writer: wave.Wave_write | None = None
    summary: MelodySummary | None = None
    try:
        with connect(args) as client:
            events = client.iter_generate_from_melody(
                audio=None if is_midi else data, midi=data if is_midi else None, text=args.text,
                duration_s=args.duration, seed=args.seed, guidance_scale=args.guidance,
                temperature=args.temperature, top_k=args.top_k, remove_drums_and_bass=args.remove_drums_bass,
                soundfont=args.soundfont,
            )
            for event in events:
                if isinstance(event, MelodyProgress):
                    update_bar(bar, event.fraction, event.message)
                elif isinstance(event, MelodyNotice):
                    bar.clear()
                    print(f"note: {event.message}", file=sys.stderr)
                elif isinstance(event, MelodyAudioStart):
                    writer = wave.open(str(output), "wb")
                    writer.setnchannels(event.channels)
                    writer.setsampwidth(2)
                    writer.setframerate(event.sample_rate_hz)
                elif isinstance(event, MelodyAudioBlock) and writer is not None:
                    writer.writeframes(event.pcm_s16le)
                elif isinstance(event, MelodySummary):
                    summary = event
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    if summary is None:
        print("ostinato: the server ended the stream without a summary", file=sys.stderr)
        return 1
    print(
        f"{output}: {summary.duration_s:.1f} s by {summary.model} in {summary.compute_s:.1f} s "
        f"(first audio after {summary.first_chunk_s:.2f} s), chroma cosine {summary.chroma_cosine:.2f}"
    )
    return 0


def melody_model(args: argparse.Namespace) -> int:
    with connect(args) as client:
        info = client.describe_melody_model()
    print(f"{info.name} ({info.source}): {info.parameters:,} parameters, {info.sample_rate_hz} Hz, "
          f"{info.frame_rate_hz:g} frames/s, {info.window_s:g} s window")
    return 0
