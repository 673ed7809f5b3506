"""Latent space speed: `.venv/bin/python -m benchmarks.latent [--repeats 20]`.

Prints, for the shipped MusicVAE-style model (symbolic/pretrained/latent):
- Interpolate (8 steps between two 4-bar clips) and Vary (4 variations of a 4-bar clip) through a real
  server on loopback, p50/p99, against the same calls on LatentSpace in this process (the baseline: what
  gRPC, MIDI parsing and writing add);
- decoding many latents as one batch against one latent at a time (the batching gain that Interpolate
  and Vary use);
- peak resident memory.
"""

from __future__ import annotations

import argparse
import io
import resource
import time

import numpy as np
import pretty_midi

from benchmarks.common import percentile, time_calls
from symbolic.latent.representation import midi_to_clip
from symbolic.latent.space import Decoding, LatentSpace, split


def four_bar_midi(pitches: list[int], program: int, tempo_bpm: float = 120.0) -> bytes:
    """A 4-bar 4/4 melody of eighth notes cycling through `pitches`."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo_bpm)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    instrument = pretty_midi.Instrument(program=program)
    eighth = 30.0 / tempo_bpm
    for step in range(32):
        start = step * eighth
        instrument.notes.append(pretty_midi.Note(90, pitches[step % len(pitches)], start, start + 0.9 * eighth))
    midi.instruments.append(instrument)
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


def _line(label: str, values_s: list[float], baseline_s: list[float] | None = None) -> str:
    p50, p99 = percentile(values_s, 50) * 1000, percentile(values_s, 99) * 1000
    text = f"  {label:<40} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms"
    if baseline_s is not None:
        text += f"   ({p50 / (percentile(baseline_s, 50) * 1000):.2f}x the in-process p50)"
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    start = four_bar_midi([62, 66, 69, 74, 73, 69, 66, 64], program=40)
    end = four_bar_midi([57, 60, 64, 67, 65, 64, 62, 60], program=40, tempo_bpm=100.0)
    space = LatentSpace.from_pretrained()
    start_clip, end_clip = midi_to_clip(start), midi_to_clip(end)

    print("latent space benchmark (symbolic/pretrained/latent): 4-bar clips, greedy decoding, 1 torch thread")
    local_interpolate = time_calls(lambda: space.interpolate(start_clip, end_clip, 8), args.repeats)
    local_vary = time_calls(lambda: space.vary(start_clip, 4, 0.3, decoding=Decoding(seed=1)), args.repeats)

    from server.app import start_server
    from server.client import Client
    from server.settings import Settings

    running = start_server(Settings(host="127.0.0.1", port=0))
    try:
        with Client(running.address, timeout_s=60) as client:
            served_interpolate = time_calls(lambda: client.interpolate(start, end, 8), args.repeats)
            served_vary = time_calls(lambda: client.vary(start, 4, similarity_distance=0.3, seed=1), args.repeats)
    finally:
        running.stop(grace_s=1.0)
    print(_line("Interpolate, 8 steps, in process", local_interpolate))
    print(_line("Interpolate, 8 steps, through the server", served_interpolate, local_interpolate))
    print(_line("Vary, 4 variations, in process", local_vary))
    print(_line("Vary, 4 variations, through the server", served_vary, local_vary))

    latents = np.random.default_rng(0).standard_normal((16, space.model.config.latent_dim)).astype(np.float32)
    like = split(start_clip).pieces[0]  # a model-sized piece (at most 64 steps)
    batched = time_calls(lambda: space.decode(latents, like), max(3, args.repeats // 4))
    single = time_calls(lambda: [space.decode(latents[i:i + 1], like) for i in range(len(latents))],
                        max(3, args.repeats // 4))
    clips_per_s_batched = len(latents) / percentile(batched, 50)
    clips_per_s_single = len(latents) / percentile(single, 50)
    print(f"  decoding 16 latents ({like.num_steps} steps each): one batch {clips_per_s_batched:7.0f} clips/s, "
          f"one at a time {clips_per_s_single:7.0f} clips/s ({clips_per_s_batched / clips_per_s_single:.1f}x)")
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
          f"load average {' '.join(open('/proc/loadavg').read().split()[:3])} (2 cores)")


if __name__ == "__main__":
    main()
