"""Control accuracy of the generator, MuseCoco-style: `python -m symbolic.evaluate [--model DIR]`.

Two fixed prompt grids:
- "held-out": every attribute of bar segments of held-out pieces (what the data says goes together);
- "user": hand-written requests that give only some attributes (instruments, key, meter, tempo, bars).
Each output is measured again by the same extractor (symbolic.attributes.extract) and compared with
the request. The table gives per-attribute accuracy and the average sample-wise accuracy (ASA: per
sample, the fraction of requested attributes met; averaged over samples).
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import time
from pathlib import Path

import numpy as np
import torch

from symbolic.attributes import (
    Attributes,
    Key,
    density_level,
    key_membership,
    polyphony_level,
    range_level,
)
from symbolic.composer import Composer
from symbolic.conditioning import levels_of
from symbolic.data.sampling import segment_levels, segment_table
from symbolic.decoding import Sampling
from symbolic.attributes import extract

USER_GRID = [
    dict(instruments=[40], key=Key(2, "major"), time_signature=(6, 8), tempo_bpm=170.0, bars=8, style="jig"),
    dict(instruments=[73, 32], key=Key(9, "minor"), time_signature=(4, 4), tempo_bpm=120.0, bars=8),
    dict(instruments=[21, 0, -1], key=Key(7, "major"), time_signature=(2, 4), tempo_bpm=140.0, bars=16),
    dict(instruments=[52], key=Key(5, "major"), time_signature=(4, 4), tempo_bpm=72.0, bars=8, style="chorale"),
    dict(instruments=[40, 41, 42], key=Key(0, "minor"), time_signature=(3, 4), tempo_bpm=96.0, bars=8),
    dict(instruments=[78, 46], key=Key(4, "dorian"), time_signature=(6, 8), tempo_bpm=160.0, bars=8),
    dict(instruments=[0], key=Key(10, "major"), time_signature=(3, 4), tempo_bpm=150.0, bars=4, style="waltz"),
    dict(instruments=[105, 33, -1], key=Key(7, "mixolydian"), time_signature=(4, 4), tempo_bpm=200.0, bars=8, style="reel"),
    dict(instruments=[71], key=Key(6, "minor"), time_signature=(4, 4), tempo_bpm=66.0, bars=4, style="air"),
    dict(instruments=[109, -1], key=Key(9, "mixolydian"), time_signature=(2, 4), tempo_bpm=110.0, bars=8, style="march"),
    dict(instruments=[22, 24], key=Key(11, "minor"), time_signature=(9, 8), tempo_bpm=180.0, bars=8, style="slip jig"),
    dict(instruments=[56, 57, 58], key=Key(3, "major"), time_signature=(4, 4), tempo_bpm=84.0, bars=8),
]


def compare(requested: Attributes, levels_requested: dict, measured: Attributes) -> dict[str, float]:
    """1/0 per requested attribute (plus key membership as a rate)."""
    scores: dict[str, float] = {}
    scores["instruments"] = float(sorted(requested.instruments) == sorted(measured.instruments or []))
    scores["time_signature"] = float(tuple(requested.time_signature) == tuple(measured.time_signature))
    scores["tempo"] = float(abs(requested.tempo_bpm - measured.tempo_bpm) < 0.5)
    scores["bars"] = float(requested.bars == measured.bars)
    if requested.key is not None and measured.key is not None:
        scores["key"] = float(requested.key == measured.key)
    elif requested.key is not None:
        scores["key"] = 0.0
    measured_density = density_level(measured.extra.get("onsets_per_quarter", 0.0))
    if levels_requested.get("range") is not None:
        scores["range"] = float(measured.pitch_range_octaves is not None
                                and range_level(measured.pitch_range_octaves) == levels_requested["range"])
    if levels_requested.get("density") is not None:
        scores["density"] = float(measured_density == levels_requested["density"])
    if levels_requested.get("polyphony") is not None:
        scores["polyphony"] = float(polyphony_level(measured.polyphony or 0.0) == levels_requested["polyphony"])
    return scores


def held_out_grid(dataset: Path, count: int, seed: int = 7) -> list[tuple[Attributes, dict]]:
    with dataset.open("rb") as handle:
        valid = pickle.load(handle)["valid"]
    rng = random.Random(seed)
    grid = []
    while len(grid) < count:
        example = rng.choice(valid)
        bars = min(example.bars, rng.choice((4, 8, 8, 16)))
        start = rng.randint(0, example.bars - bars)
        semitones = rng.randint(-3, 3)
        table = segment_table(example, start, bars, semitones)
        measured = extract(table, example.time_signature, example.tempo_bpm, bars=bars, style=example.style)
        if not measured.instruments or measured.key is None:
            continue
        levels = levels_of(measured)
        request = Attributes(
            instruments=measured.instruments, key=measured.key, time_signature=example.time_signature,
            tempo_bpm=example.tempo_bpm, bars=bars, pitch_range_octaves=measured.pitch_range_octaves,
            rhythm_intensity=levels.density / 4.0, polyphony=measured.polyphony, style=example.style)
        grid.append((request, {"range": levels.range, "density": levels.density, "polyphony": levels.polyphony}))
    return grid


def run(composer: Composer, grid: list[tuple[Attributes, dict]], seed: int, samples: int = 1,
        candidates: int = 1) -> dict:
    rows = []
    latencies = []
    for index, (request, levels) in enumerate(grid):
        for sample in range(samples):
            started = time.perf_counter()
            result = composer.generate(request, Sampling(seed=seed + 1000 * index + sample), candidates=candidates)
            latencies.append(time.perf_counter() - started)
            scores = compare(result.requested, levels, result.measured)
            pitched = result.clip.table.pitch[result.clip.table.program != -1]
            membership = key_membership(pitched, request.key) if request.key else None
            rows.append({"scores": scores, "key_membership": membership,
                         "completed_by_construction": result.notes.get("completed_by_construction", [])})
    names = sorted({name for row in rows for name in row["scores"]})
    accuracy = {name: float(np.mean([row["scores"][name] for row in rows if name in row["scores"]])) for name in names}
    asa = float(np.mean([np.mean(list(row["scores"].values())) for row in rows]))
    membership = [row["key_membership"] for row in rows if row["key_membership"] is not None]
    return {
        "samples": len(rows), "accuracy": accuracy, "average_samplewise_accuracy": asa,
        "key_membership_rate": float(np.mean(membership)) if membership else None,
        "instruments_completed_by_construction": sum(bool(r["completed_by_construction"]) for r in rows),
        "latency_s_median": float(np.median(latencies)),
    }


def print_table(title: str, result: dict) -> None:
    print(f"\n{title}: {result['samples']} samples")
    print(f"  {'attribute':<16} accuracy")
    for name, value in result["accuracy"].items():
        print(f"  {name:<16} {value * 100:6.1f}%")
    print(f"  {'ASA':<16} {result['average_samplewise_accuracy'] * 100:6.1f}%")
    if result["key_membership_rate"] is not None:
        print(f"  key membership rate (pitched notes in the requested scale): {result['key_membership_rate'] * 100:.1f}%")
    print(f"  instruments completed by construction: {result['instruments_completed_by_construction']}")
    print(f"  median generation time: {result['latency_s_median'] * 1000:.0f} ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path(__file__).parent / "pretrained" / "default")
    parser.add_argument("--dataset", type=Path, default=Path(".cache/symbolic/dataset.pkl"))
    parser.add_argument("--held-out", type=int, default=48, help="prompts from held-out pieces")
    parser.add_argument("--user-samples", type=int, default=2, help="samples per hand-written prompt")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--candidates", type=int, default=1, help="best-of-N sampling (1 = plain sampling)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    composer = Composer.from_pretrained(args.model)
    results = {}
    user_grid = [(Attributes(**prompt), {}) for prompt in USER_GRID]
    print(f"model {args.model}, best-of-{args.candidates}")
    results["user"] = run(composer, user_grid, args.seed, samples=args.user_samples, candidates=args.candidates)
    print_table("hand-written prompts (instruments, key, meter, tempo, bars[, style])", results["user"])
    if args.held_out and args.dataset.exists():
        results["held_out"] = run(composer, held_out_grid(args.dataset, args.held_out), args.seed,
                                  candidates=args.candidates)
        print_table("held-out prompts (every attribute of held-out segments)", results["held_out"])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
