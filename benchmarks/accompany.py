"""Accompaniment: seconds of compute per second of audio, time to the first chunk, peak memory.

    .venv/bin/python -m benchmarks.accompany [--model audio_render/pretrained/accompanist] [--seconds 30]

Measured on a drumless mix rendered here (piano chords + a flute line, TimGM6mb, 44.1 kHz stereo):
- in process, 1 torch thread: our streamed path (`Accompanist.generate`: analysis, windowed tokens,
  chunked Griffin-Lim decode, resampling) against the plain reference loop on the same weights (all
  tokens first, then one Griffin-Lim decode of the whole clip, then one resampling: nothing is audible
  before it ends). Both per part (drums, backing): compute s per audio s and seconds to the first audio.
- the hybrid backing route on the flute line alone: streamed (the first bars written from the melody's
  first seconds, each later segment from the melody heard up to its end) against the streaming before
  it (after the first bars, the whole melody transcribed at once) and the whole-first path (the whole
  melody transcribed before anything is written).
- for every streamed path, the pause: how long playback started at the first chunk would stop, in all,
  waiting for chunks that came after their turn (0 for a stream that stays ahead of playback).
- through a server started with `ostinato serve --preload` (every model loaded and warmed up): time from
  the call to the first AudioChunk as the client sees it, and the server's peak RSS (VmHWM) afterwards.

Targets (issue 10): faster than real time on 2 cores; first chunk <= 1 s on a preloaded server.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import print_header

PYTHON = sys.executable
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "audio_render" / "pretrained" / "accompanist"


def drumless_mix(seconds: float, rate: int = 44_100) -> np.ndarray:
    """Piano chords on every beat at 100 bpm and a flute line, rendered with FluidSynth (stereo)."""
    import pretty_midi

    from audio_render.render import RenderOptions, render_midi
    from audio_render.soundfonts import TIMGM6MB

    midi = pretty_midi.PrettyMIDI(initial_tempo=100.0)
    piano, flute = pretty_midi.Instrument(program=0), pretty_midi.Instrument(program=73)
    chords = [(60, 64, 67), (57, 60, 64), (53, 57, 60), (55, 59, 62)]
    tune = [72, 74, 76, 79, 77, 76, 74, 72]
    beat = 0.6
    for index in range(int(seconds / beat)):
        start = index * beat
        for pitch in chords[(index // 4) % 4]:
            piano.notes.append(pretty_midi.Note(80, pitch, start, start + beat * 0.9))
        if index % 2 == 0:
            flute.notes.append(pretty_midi.Note(90, tune[(index // 2) % len(tune)], start, start + 2 * beat * 0.95))
    midi.instruments += [piano, flute]
    buffer = io.BytesIO()
    midi.write(buffer)
    options = RenderOptions(soundfont=TIMGM6MB, sample_rate_hz=rate, channels=2, tail_s=0.0)
    return render_midi(buffer.getvalue(), options).samples[: int(seconds * rate)]


def flute_line(seconds: float, rate: int = 44_100) -> np.ndarray:
    """The mix's flute line alone (the hybrid backing route's input: a melody)."""
    import pretty_midi

    from audio_render.render import RenderOptions, render_midi
    from audio_render.soundfonts import TIMGM6MB

    midi = pretty_midi.PrettyMIDI(initial_tempo=100.0)
    flute = pretty_midi.Instrument(program=73)
    tune = [72, 74, 76, 79, 77, 76, 74, 72]
    for index in range(0, int(seconds / 0.6), 2):
        flute.notes.append(pretty_midi.Note(90, tune[(index // 2) % len(tune)], index * 0.6, index * 0.6 + 1.14))
    midi.instruments.append(flute)
    buffer = io.BytesIO()
    midi.write(buffer)
    options = RenderOptions(soundfont=TIMGM6MB, sample_rate_hz=rate, channels=2, tail_s=0.0)
    return render_midi(buffer.getvalue(), options).samples[: int(seconds * rate)]


def streamed(model, audio: np.ndarray, rate: int, part: str) -> tuple[float, float, float]:
    """(compute seconds, seconds to the first audio, pause): the pause is how long playback started at
    the first chunk would have to stop, in total, waiting for chunks that came after their turn."""
    from audio_render.accompanist.model import AccompanimentChunk, AccompanimentRequest

    started = time.perf_counter()
    first, playhead, pause = 0.0, 0.0, 0.0
    for item in model.generate(AccompanimentRequest(audio, rate, part=part, mix=True)):
        if isinstance(item, AccompanimentChunk):
            now = time.perf_counter() - started
            if not first:
                first = playhead = now
            pause += max(0.0, now - playhead)
            playhead = max(playhead, now) + item.part.shape[0] / rate
    return time.perf_counter() - started, first, pause


def reference_loop(model, audio: np.ndarray, rate: int, part: str) -> tuple[float, float]:
    """All tokens, then one whole-clip decode and resampling (same weights, same analysis)."""
    from scipy.signal import resample_poly

    from audio_render.accompanist.beats import beat_indices
    from audio_render.accompanist.model import _TokenWriter
    from audio_render.accompanist.network import PARTS
    from audio_render.chroma import resample

    started = time.perf_counter()
    codec = model.codec
    features = model.analyse(resample(audio.mean(axis=1), rate, codec.sample_rate_hz))
    frames = features.tokens.shape[1]
    phase, bar = beat_indices(features.beats, frames, model.config.frame_rate_hz, model.config.phase_bins,
                              model.config.bar_positions)
    writer = _TokenWriter(model, features, torch.from_numpy(phase), torch.from_numpy(bar), PARTS.index(part), 0.0, 0)
    writer.ensure(frames)
    part_16k = codec.decode(writer.codes) / features.gain
    divisor = math.gcd(codec.sample_rate_hz, rate)
    part_audio = resample_poly(part_16k, rate // divisor, codec.sample_rate_hz // divisor)[: audio.shape[0]]
    np.clip(audio + part_audio[:, None], -1, 1)
    elapsed = time.perf_counter() - started
    return elapsed, elapsed, 0.0


SERVER_CALLS = (("drums", "tokens"), ("backing", "tokens"), ("backing", "composer"))


def server_first_chunk(model_dir: Path, audio: np.ndarray, rate: int, repeats: int) -> tuple[dict, float, float]:
    """({(part, route): first-chunk seconds per call}, server start-up seconds, server peak RSS MB) with --preload."""
    from audio_render.audio_io import encode_wav
    from server.client import Client
    from server.client.accompanist import AccompanyAudioBlock

    env = {**os.environ, "OSTINATO_ACCOMPANIST_MODEL": str(model_dir)}
    started = time.perf_counter()
    server = subprocess.Popen([PYTHON, "-m", "server.cli", "serve", "--preload", "--port", "0", "--log-level", "WARNING"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        serving_s = time.perf_counter() - started
        match = re.search(r"serving on (\S+:\d+)", line)
        if not match:
            raise RuntimeError(f"the server did not start: {line!r}")
        data = encode_wav(audio, rate)
        firsts: dict = {call: [] for call in SERVER_CALLS}
        with Client(match.group(1), timeout_s=300) as client:
            for _ in range(repeats):
                for part, route in SERVER_CALLS:
                    call_started = time.perf_counter()
                    first = 0.0
                    for event in client.iter_accompany(data, part=part, mix=True, model=route):
                        if isinstance(event, AccompanyAudioBlock) and not first:
                            first = time.perf_counter() - call_started
                    firsts[(part, route)].append(first)
        status = Path(f"/proc/{server.pid}/status").read_text()
        peak_mb = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024
        return firsts, serving_s, peak_mb
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-server", action="store_true", help="skip the server measurements")
    parser.add_argument("--hybrid-only", action="store_true", help="only the hybrid backing route (no token model, no server)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from audio_render.accompanist.model import Accompanist

    print(f"load average at start: {' '.join(open('/proc/loadavg').read().split()[:3])} (2 cores)")
    rate = 44_100
    audio = drumless_mix(args.seconds, rate)
    model = Accompanist.from_pretrained(args.model)
    model.warm_up()
    print_header(f"accompaniment: {model.parameters:,} parameters, {args.seconds:g} s of 44.1 kHz stereo, "
                 f"{args.threads} torch thread(s), median of {args.repeats}")
    for part in () if args.hybrid_only else ("drums", "backing"):
        for name, path in (("streamed (ours)", streamed), ("reference loop", reference_loop)):
            runs = [path(model, audio, rate, part) for _ in range(args.repeats)]
            total = statistics.median(r[0] for r in runs)
            first = statistics.median(r[1] for r in runs)
            pause = statistics.median(r[2] for r in runs)
            print(f"{part:8s} {name:16s} {total / args.seconds:6.3f} s compute per s of audio "
                  f"({args.seconds / total:5.1f}x real time), first audio after {first:6.3f} s, "
                  f"then pauses {pause:5.2f} s in all")
    # The hybrid backing route (transcription + key/chords + Composer + FluidSynth) on the flute line alone.
    from audio_render.accompanist.composed import ComposedBacking
    from symbolic.composer import Composer

    composer = Composer.from_pretrained(Path("symbolic/pretrained/default"))
    melody = flute_line(args.seconds, rate)
    # Ours writes the first bars from the melody's first seconds; the plain path transcribes it all first.
    class HeadThenWhole(ComposedBacking):
        """The streaming before (session 7): after the first bars, the whole melody is transcribed at once."""

        def hearing_until_s(self, listening, composed_bars):
            return None

    for name, hybrid in (("streamed (ours)", ComposedBacking(composer)),
                         ("head, then whole", HeadThenWhole(composer)),
                         ("whole-first path", ComposedBacking(composer, stream_head=False))):
        hybrid.warm_up()
        runs = [streamed(hybrid, melody, rate, "backing") for _ in range(args.repeats)]
        total, first = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        pause = statistics.median(r[2] for r in runs)
        print(f"backing  hybrid {name:16s} {total / args.seconds:6.3f} s compute per s of audio "
              f"({args.seconds / total:5.1f}x real time), first audio after {first:6.3f} s, playback started "
              f"then would pause {pause:5.2f} s in all (on the flute line alone)")
    if not (args.no_server or args.hybrid_only):
        firsts, serving_s, peak_mb = server_first_chunk(args.model, audio, rate, args.repeats)
        calls = "; ".join(f"{part}/{route} {statistics.median(values):.3f} s" for (part, route), values in firsts.items())
        print(f"server --preload: serving after {serving_s:.1f} s; median first chunk per call (client side): "
              f"{calls}; peak RSS {peak_mb:.0f} MB with every model loaded")
    print(f"load average at end: {' '.join(open('/proc/loadavg').read().split()[:3])}")


if __name__ == "__main__":
    main()
