"""Why the token model's drums miss the beats: the model, the decoding, or the beat grid it is given?

Training-side only. On held-out clips (prepare's test split) it measures, in one run, four drum parts
against the beats the token model was GIVEN (the learned tracker on the drumless input) and against the
ANNOTATED beats:

  * model: the token model's drums (its tokens decoded by the mel codec + Griffin-Lim);
  * codec_ceiling: the clip's true drum stem (the training target's kind: a library groove on the
    annotated beats) encoded to codec tokens and decoded the same way: what the token route could give
    at best, with perfect tokens;
  * true_stem: the stem itself (no codec);
  * groove_baseline: the library's pop groove on the given beats, FluidSynth (no model, no codec).

Per part: onset timing (librosa onsets; share of given beats with an onset within 70 ms, median distance
of each given beat to its nearest onset, in ms), accent on the beat (mean onset strength on given beats
over the mean on the off-beat eighths: > 1 means the beat is louder than the half-beat), and what
librosa's beat tracker (its defaults, the evaluation's judge) hears: F vs the given beats, F vs the
annotation, and the metrical level it picks (its tempo over the annotated tempo: ~1, ~2, ~0.5, ~1.5).

    dev-cpu .venv/bin/python -m audio_render.accompanist.train.drum_diagnose --clips 12
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from audio_render.accompanist.train.evaluate import RATE_HZ, WINDOW_S, _f, drum_onsets, generate, groove_baseline, librosa_beats

LEVELS = (0.5, 2.0 / 3.0, 1.0, 1.5, 2.0)


def metrical_level(tracked: np.ndarray, reference: np.ndarray) -> float:
    """The tracked tempo over the reference tempo, snapped to the nearest of LEVELS (nan: too few beats)."""
    if tracked.size < 3 or reference.size < 3:
        return float("nan")
    ratio = float(np.median(np.diff(reference)) / np.median(np.diff(tracked)))
    return min(LEVELS, key=lambda level: abs(np.log(ratio / level)))


def beat_accent(drums: np.ndarray, beats: np.ndarray) -> float:
    """Mean onset strength within a frame of the beats over the same at the off-beat eighths."""
    import librosa

    envelope = librosa.onset.onset_strength(y=drums.astype(np.float32), sr=RATE_HZ, hop_length=256)
    if beats.size < 3 or not np.any(envelope):
        return float("nan")
    def strength(times: np.ndarray) -> float:
        frames = np.rint(times * RATE_HZ / 256).astype(int)
        frames = frames[(frames >= 1) & (frames < envelope.size - 1)]
        return float(np.mean([envelope[f - 1 : f + 2].max() for f in frames])) if frames.size else float("nan")
    offbeats = (beats[:-1] + beats[1:]) / 2
    return strength(beats) / max(strength(offbeats), 1e-9)


def part_measures(drums: np.ndarray, given: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    duration = drums.size / RATE_HZ
    given = given[(given >= 1.0) & (given < duration - 0.1)]  # the first second has no context
    reference = reference[(reference >= 0) & (reference < duration)]
    onsets = drum_onsets(drums)
    distance = np.array([np.min(np.abs(onsets - b)) for b in given]) if onsets.size and given.size else np.zeros(0)
    tracked = librosa_beats(drums)
    return {
        "onset_on_given_beat": float(np.mean(distance <= WINDOW_S)) if distance.size else 0.0,
        "median_onset_to_given_beat_ms": float(np.median(distance) * 1000) if distance.size else float("nan"),
        "beat_over_offbeat_accent": beat_accent(drums, given),
        "librosa_f_vs_given": _f(given, tracked[tracked >= 1.0]),
        "librosa_f_vs_annotated": _f(reference, tracked),
        "librosa_level_is_beat": float(metrical_level(tracked, reference) == 1.0),
        "librosa_level_is_double": float(metrical_level(tracked, reference) == 2.0),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("audio_render/pretrained/accompanist"))
    parser.add_argument("--data", type=Path, default=Path(".cache/accompanist/data"))
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--first", type=int, default=0, help="first held-out clip (the published evaluation uses 0-29)")
    parser.add_argument("--temperature", type=float, default=None, help="the model's sampling temperature")
    parser.add_argument("--guidance", type=float, default=None, help="the model's beat guidance")
    parser.add_argument("--soundfont", default="/usr/share/sounds/sf2/FluidR3_GM.sf2")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from audio_render.accompanist.features import loudness_gain
    from audio_render.accompanist.model import Accompanist
    from audio_render.accompanist.train.prepare import groove_library

    model = Accompanist.from_pretrained(args.model)
    if args.guidance is not None:
        model.beat_guidance = args.guidance
    arrays = np.load(args.data / "test.npz")
    meta = json.loads((args.data / "test_meta.json").read_text())[args.first : args.first + args.clips]
    grooves = groove_library(args.data.parent)
    names = sorted(path.name for path in (args.data.parent / "grooves").glob("*_4-4_*.mid"))
    pop = grooves[next(i for i, name in enumerate(names) if name.startswith("pop_"))]
    rows: dict[str, list[dict[str, float]]] = {}
    started = time.time()
    for index, clip in enumerate(meta, start=args.first):
        mix = (arrays["audio_melody"][index].astype(np.float32) + arrays["audio_accompaniment"][index]) / 32767
        true_drums = arrays["audio_drums"][index].astype(np.float32) / 32767
        reference = np.array(clip["beat_times_s"])
        drums, _, given = generate(model, mix, "drums", args.temperature, with_beats=True)
        gain = loudness_gain(mix)
        tokens = model.codec.encode(true_drums * gain, RATE_HZ)
        ceiling = model.codec.decode(tokens, seed=0)[: true_drums.size] / gain
        parts = {"model": drums, "codec_ceiling": ceiling, "true_stem": true_drums,
                 "groove_baseline": groove_baseline(mix, pop, args.soundfont)}
        for name, audio in parts.items():
            rows.setdefault(name, []).append(part_measures(audio, given, reference))
        rows.setdefault("given_beats", []).append({"f_vs_annotated": _f(reference, given),
                                                   "level_is_beat": float(metrical_level(given, reference) == 1.0)})
        print(f"clip {index} ({index - args.first + 1}/{len(meta)}), {time.time() - started:.0f} s", flush=True)
    report = {name: {key: round(float(np.nanmean([r[key] for r in values])), 4) for key in values[0]} | {"n": len(values)}
              for name, values in rows.items()}
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
