"""Melody-conditioned generation: our sampler against transformers' own `generate` on the same weights,
in the same run.

    .venv/bin/python -m benchmarks.melody [--model audio_render/pretrained/melody] [--seconds 20] [--repeats 3]

Measured (median of --repeats, alternating the two paths because the machine is shared, 1 torch thread):
- one window of tokens, with classifier-free guidance and top-k sampling: `FastSampler.generate` vs
  `MusicgenMelodyForConditionalGeneration.generate` (the latter also runs its audio_encoder's decode at
  the end; for the embedded model that is a tiny placeholder EnCodec, timed separately and subtracted);
- end to end (chroma, text, sliding windows, decoding) with our path: seconds of compute per second of
  audio and time to the first audio chunk. transformers has no streaming: its first audio arrives when
  the whole window is generated and decoded, so its first-chunk time is its window time plus our decode.

Targets (issue 4): >= 2x faster than transformers' generate; first chunk <= 1 s with the embedded model.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from audio_render.melody.loading import load_melody_model
from audio_render.melody.model import GenerationStats, MelodyRequest
from audio_render.melody.sampler import SamplingParams
from benchmarks.common import print_header

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "audio_render" / "pretrained" / "melody"


def test_melody(seconds: float, rate: int = 32_000) -> np.ndarray:
    """A plucked-tone tune (a rising and falling D major line, 4 notes per second)."""
    notes = [62, 64, 66, 67, 69, 71, 73, 74, 73, 71, 69, 67, 66, 64]
    t = np.arange(int(0.25 * rate)) / rate
    pieces = []
    for index in range(int(seconds * 4)):
        f = 440.0 * 2 ** ((notes[index % len(notes)] - 69) / 12)
        pieces.append(np.exp(-6 * t) * sum(np.sin(2 * np.pi * f * h * t) / h for h in (1, 2, 3)))
    return (0.3 * np.concatenate(pieces)).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--seconds", type=float, default=20.0, help="audio per end-to-end run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--weights", default=None, choices=["float32", "bfloat16", "int8"],
                        help="weight format of our sampler for the end-to-end run (default: the model's)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = load_melody_model(args.model, weights=args.weights)
    info = model.info
    print_header(f"melody generation: {info.name} ({info.source}, {info.parameters:,} parameters, "
                 f"{info.frame_rate_hz:g} frames/s, {info.window_s:.2f} s window), {args.threads} thread(s)")
    melody = test_melody(max(args.seconds, info.window_s))
    text = "warm strings"
    params = SamplingParams(model.defaults.guidance_scale, model.defaults.temperature, model.defaults.top_k, seed=0)
    frames = model.window_frames
    window_s = frames / info.frame_rate_hz
    from audio_render.chroma import melody_chroma

    chroma = model.window_chroma(melody_chroma(melody, 32_000), 0)
    inputs = model.text_inputs(text)
    inputs.pop("token_type_ids", None)

    from audio_render.melody.sampler import FastSampler

    samplers = {fmt: FastSampler(model.model.decoder, weights=fmt) for fmt in FastSampler.WEIGHT_FORMATS}

    def ours_window(fmt: str = "float32") -> float:
        started = time.perf_counter()
        prefix = model.prefix(text, chroma, guided=True)
        samplers[fmt].generate(prefix, frames, params)
        return time.perf_counter() - started

    def theirs_window() -> float:
        torch.manual_seed(0)
        started = time.perf_counter()
        with torch.inference_mode():
            model.model.generate(
                **inputs, input_features=chroma[None], do_sample=True, guidance_scale=params.guidance_scale,
                top_k=params.top_k, temperature=params.temperature, max_length=frames + model.num_codebooks,
            )
        return time.perf_counter() - started

    def placeholder_decode() -> float:
        codes = torch.zeros(1, 1, model.num_codebooks, frames, dtype=torch.long)
        started = time.perf_counter()
        with torch.inference_mode():
            model.model.audio_encoder.decode(codes, [None])
        return time.perf_counter() - started

    def ours_end_to_end() -> tuple[float, float, float]:
        stats = GenerationStats()
        started = time.perf_counter()
        for _ in model.generate(melody, 32_000, MelodyRequest(text=text, duration_s=args.seconds, seed=1), stats=stats):
            pass
        return time.perf_counter() - started, stats.first_chunk_s, stats.frames / info.frame_rate_hz

    def our_decode() -> float:
        tokens = torch.randint(0, model.sampler.vocab_size, (model.num_codebooks, frames))
        started = time.perf_counter()
        model.decode_tokens(tokens)
        return time.perf_counter() - started

    for fmt in samplers:
        ours_window(fmt)
    theirs_window()  # warm-up
    ours, theirs, placeholder, decode, end_to_end = [], [], [], [], []
    reduced = {"bfloat16": [], "int8": []}
    for _ in range(args.repeats):
        ours.append(ours_window())
        theirs.append(theirs_window())
        for fmt, times in reduced.items():
            times.append(ours_window(fmt))
        placeholder.append(placeholder_decode() if info.source == "embedded" else 0.0)
        decode.append(our_decode())
        end_to_end.append(ours_end_to_end())

    ours_s = statistics.median(ours)
    theirs_s = statistics.median(theirs) - statistics.median(placeholder)
    decode_s = statistics.median(decode)
    total_s = statistics.median(e[0] for e in end_to_end)
    first_s = statistics.median(e[1] for e in end_to_end)
    audio_s = end_to_end[0][2]
    print(f"one window of tokens ({frames} frames = {window_s:.2f} s, CFG {params.guidance_scale:g}, top-k {params.top_k}):")
    print(f"  transformers generate : {theirs_s:7.3f} s  = {theirs_s / window_s:6.3f} s per audio second"
          + (f"  (placeholder EnCodec decode {statistics.median(placeholder) * 1000:.0f} ms subtracted)" if info.source == "embedded" else ""))
    print(f"  ours, float32  weights: {ours_s:7.3f} s  = {ours_s / window_s:6.3f} s per audio second")
    print(f"  speed-up              : {theirs_s / ours_s:7.2f}x  (target >= 2x), same tokens as transformers' greedy path")
    for fmt, times in reduced.items():
        t = statistics.median(times)
        print(f"  ours, {fmt:<8} weights: {t:7.3f} s  = {t / window_s:6.3f} s per audio second, "
              f"{theirs_s / t:5.2f}x transformers")
    print(f"decode one window with our token decoder: {decode_s:.3f} s")
    print(f"end to end, {audio_s:.1f} s of audio ({len(model._windows(model.token_frames(args.seconds)))} windows), "
          f"our path with {model.sampler.weights} weights:")
    print(f"  compute               : {total_s:7.3f} s  = {total_s / audio_s:6.3f} s per audio second "
          f"({audio_s / total_s:.1f}x real time)")
    print(f"  first audio chunk     : {first_s:7.3f} s  (target <= 1 s; transformers' path: "
          f"{theirs_s + decode_s:.3f} s, no streaming)")


if __name__ == "__main__":
    main()
