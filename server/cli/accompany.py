"""`ostinato accompany in.wav --part drums|backing -o out.wav [--mix]`: drums for a drumless mix, or a
backing for a melody, written as the server streams it (the mix, with --mix, to <out>.mix.wav)."""

from __future__ import annotations

import argparse
import sys
import wave
from pathlib import Path

from server.cli.common import add_connection_arguments, connect, progress_bar, update_bar


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "accompany",
        help="write drums for a drumless mix, or a backing for a melody (WAV/FLAC in, WAV out)",
        description="Write an accompaniment part for a recording: drums that follow the beats tracked in a "
        "drumless mix, or an instrumental backing for a sung or played melody. The output has the input's "
        "length, sample rate and channels. Backing is written by default by a HYBRID route (--model composer): "
        "the melody is transcribed (basic-pitch), its key and chords estimated, the symbolic Composer writes "
        "bass, piano and guitar parts and FluidSynth renders them on the tracked beats; --model tokens uses "
        "the audio-token model instead (hears the audio directly, but its backing is not yet in key).",
    )
    parser.add_argument("audio", type=Path, help="a WAV or FLAC recording")
    parser.add_argument("--part", choices=("drums", "backing"), default="drums")
    parser.add_argument("-o", "--output", type=Path, help="WAV file for the part (default: <audio>.<part>.wav)")
    parser.add_argument("--mix", action="store_true", help="also write the input mixed with the part to <output>.mix.wav")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=0.0,
                        help="sampling temperature of the token model (default: the model's: drums sampled at 1, backing the most likely codes)")
    parser.add_argument("--model", choices=("tokens", "composer"), default=None,
                        help="what writes the part: 'tokens' (the audio-token transformer) or 'composer' (HYBRID, "
                        "backing only: transcription + key/chord estimate + symbolic Composer + FluidSynth); "
                        "default: tokens for drums, composer for backing (it measures better on key)")
    add_connection_arguments(parser)
    parser.set_defaults(handler=accompany)


def _mix_path(output: Path) -> Path:
    return output.with_name(output.stem + ".mix.wav")


def accompany(args: argparse.Namespace) -> int:
    from server.client.accompanist import AccompanyAudioBlock, AccompanyAudioStart, AccompanyNotice, AccompanyProgress, AccompanySummary

    if not args.audio.is_file():
        print(f"ostinato: no such file: {args.audio}", file=sys.stderr)
        return 2
    output = args.output or args.audio.with_name(f"{args.audio.stem}.{args.part}.wav")
    paths = {args.part: output, "": _mix_path(output)}
    writers: dict[str, wave.Wave_write] = {}
    summary: AccompanySummary | None = None
    bar = progress_bar(f"{args.part} for {args.audio.name}")
    try:
        with connect(args) as client:
            for event in client.iter_accompany(args.audio.read_bytes(), part=args.part, mix=args.mix,
                                               seed=args.seed, temperature=args.temperature, model=args.model):
                if isinstance(event, AccompanyProgress):
                    update_bar(bar, event.fraction, event.message)
                elif isinstance(event, AccompanyNotice):
                    bar.clear()
                    print(f"note: {event.message}", file=sys.stderr)
                elif isinstance(event, AccompanyAudioStart):
                    writer = wave.open(str(paths[event.stem]), "wb")
                    writer.setnchannels(event.channels)
                    writer.setsampwidth(2)
                    writer.setframerate(event.sample_rate_hz)
                    writers[event.stem] = writer
                elif isinstance(event, AccompanyAudioBlock):
                    writers[event.stem].writeframes(event.pcm_s16le)
                elif isinstance(event, AccompanySummary):
                    summary = event
    finally:
        bar.close()
        for writer in writers.values():
            writer.close()
    if summary is None:
        print("ostinato: the server ended the stream without a summary", file=sys.stderr)
        return 1
    written = ", ".join(str(paths[stem]) for stem in writers)
    if summary.key:
        print(f"heard: key {summary.key}, chords {' '.join(summary.chords)}")
    print(f"{written}: {summary.duration_s:.1f} s, {len(summary.beat_times_s)} beats tracked at "
          f"{summary.tempo_bpm:.0f} bpm, in {summary.compute_s:.1f} s (first audio after {summary.first_chunk_s:.2f} s)")
    return 0
