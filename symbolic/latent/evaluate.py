"""Evaluates the latent model the way MusicVAE reports it, and builds its attribute vectors.

    python -m symbolic.latent.evaluate [--model-dir symbolic/pretrained/latent] [--windows 1200]
    python -m symbolic.latent.evaluate --write-attribute-vectors   # then evaluates the shifts too

Reconstruction accuracy is per-step accuracy on held-out windows (tunes never seen in training),
with z = the posterior mean:
- teacher-forced: the decoder sees the true previous tokens;
- greedy: free-running argmax decoding (what LatentSpace.reconstruct returns);
- sampled: z drawn from q(z|x) and every step sampled at temperature 1.
Each also on note steps only (steps whose target is not "no event"), which are harder than holds.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from symbolic.latent import data as latent_data
from symbolic.latent.measures import ATTRIBUTES, measure
from symbolic.latent.model import MelodyVAE, features_tensor
from symbolic.latent.representation import NO_EVENT, metric_features
from symbolic.latent.space import ATTRIBUTE_VECTORS_NAME, PRETRAINED_DIR, LatentSpace


def _subsample(sets: list[latent_data.WindowSet], total: int, seed: int) -> list[latent_data.WindowSet]:
    rng = np.random.default_rng(seed)
    sizes = np.array([len(s.tokens) for s in sets], dtype=np.float64)
    quota = np.maximum(1, np.round(total * sizes / sizes.sum())).astype(int)
    result = []
    for group, count in zip(sets, quota):
        rows = rng.choice(len(group.tokens), size=min(count, len(group.tokens)), replace=False)
        result.append(latent_data.WindowSet(group.time_signature, group.num_bars, group.tokens[rows],
                                            group.tune_ids[rows]))
    return result


@torch.no_grad()
def reconstruction_accuracy(model: MelodyVAE, sets: list[latent_data.WindowSet], seed: int = 0,
                            batch_size: int = 128) -> dict:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    totals: dict[str, list[float]] = {}
    by_group = {}
    for group in sets:
        counts = {k: [0, 0] for k in ("teacher_forced", "greedy", "sampled",
                                      "teacher_forced_notes", "greedy_notes", "sampled_notes")}
        exact = 0
        for begin in range(0, len(group.tokens), batch_size):
            tokens = torch.from_numpy(group.tokens[begin:begin + batch_size].astype(np.int64))
            features = features_tensor(metric_features(group.time_signature, tokens.shape[1]), tokens.shape[0])
            mean, scale = model.encode(tokens, features)
            predictions = {
                "teacher_forced": model.teacher_forced_logits(mean, tokens, features).argmax(-1),
                "greedy": model.decode(mean, features),
                "sampled": model.decode(mean + scale * torch.randn(mean.shape, generator=generator), features,
                                        temperature=1.0, generator=generator),
            }
            notes = tokens != NO_EVENT
            for name, predicted in predictions.items():
                correct = predicted == tokens
                counts[name][0] += correct.sum().item()
                counts[name][1] += tokens.numel()
                counts[f"{name}_notes"][0] += correct[notes].sum().item()
                counts[f"{name}_notes"][1] += notes.sum().item()
            exact += (predictions["greedy"] == tokens).all(dim=1).sum().item()
        label = f"{group.time_signature} x{group.num_bars} bars"
        by_group[label] = {k: round(c / max(n, 1), 4) for k, (c, n) in counts.items()}
        by_group[label]["windows"] = len(group.tokens)
        by_group[label]["greedy_exact_clips"] = round(exact / len(group.tokens), 4)
        for key, (c, n) in counts.items():
            totals.setdefault(key, [0, 0])
            totals[key][0] += c
            totals[key][1] += n
    overall = {k: round(c / max(n, 1), 4) for k, (c, n) in totals.items()}
    overall["windows"] = sum(len(s.tokens) for s in sets)
    return {"overall": overall, "by_group": by_group}


@torch.no_grad()
def attribute_vectors(model: MelodyVAE, sets: list[latent_data.WindowSet]) -> dict[str, dict]:
    """MusicVAE attribute vectors: mean z of the top quartile minus the bottom quartile, per attribute."""
    latents, values = [], {name: [] for name in ATTRIBUTES}
    for group in sets:
        tokens = torch.from_numpy(group.tokens.astype(np.int64))
        features = features_tensor(metric_features(group.time_signature, tokens.shape[1]), tokens.shape[0])
        mean, _ = model.encode(tokens, features)
        latents.append(mean.numpy())
        for row in group.tokens:
            for name, value in measure(row, group.time_signature.steps_per_bar).items():
                values[name].append(value)
    z = np.concatenate(latents)
    result = {}
    for name in ATTRIBUTES:
        v = np.array(values[name])
        low, high = np.quantile(v, [0.25, 0.75])
        top, bottom = v >= high, v <= low
        result[name] = {
            "direction": (z[top].mean(0) - z[bottom].mean(0)).round(5).tolist(),
            "attribute_delta": float(v[top].mean() - v[bottom].mean()),
            "attribute_std": float(v.std()),
            "windows": int(len(v)),
        }
    return result


def shift_effects(space: LatentSpace, sets: list[latent_data.WindowSet], amount: float = 1.0) -> dict:
    """Mean change of each measured attribute when its vector is added (+amount) or subtracted,
    relative to the plain greedy reconstruction of the same held-out windows."""
    from symbolic.latent.representation import MelodyClip

    changes: dict[str, dict[str, list[float]]] = {name: {"+": [], "-": []} for name in space.attribute_vectors}
    for group in sets:
        clips = [MelodyClip(row, group.time_signature) for row in group.tokens]
        latents = space.encode(clips)
        steps_per_bar = group.time_signature.steps_per_bar
        base = [measure(c.tokens, steps_per_bar) for c in space.decode(latents, clips[0])]
        for name in space.attribute_vectors:
            for sign, factor in (("+", 1.0), ("-", -1.0)):
                shifted = np.stack([space.shift(z, {name: factor * amount}) for z in latents])
                for before, clip in zip(base, space.decode(shifted, clips[0])):
                    changes[name][sign].append(measure(clip.tokens, steps_per_bar)[name] - before[name])
    effects = {}
    for name, by_sign in changes.items():
        std = space.attribute_vectors[name].attribute_std
        effects[name] = {"attribute_std": round(std, 3)}
        for sign, values in by_sign.items():
            values_array = np.array(values)
            effects[name][f"mean_change_{sign}{amount:g}sd"] = round(float(values_array.mean()), 3)
            effects[name][f"mean_change_in_sd_{sign}"] = round(float(values_array.mean()) / std, 3)
            moved = values_array > 0 if sign == "+" else values_array < 0
            effects[name][f"share_moved_the_right_way_{sign}"] = round(float(moved.mean()), 3)
    return effects


def interpolation_profile(space: LatentSpace, sets: list[latent_data.WindowSet], pairs: int = 40,
                          steps: int = 11, seed: int = 0) -> dict:
    """MusicVAE's interpolation check on held-out pairs of one length: the share of steps that differ
    from the start's reconstruction along the path (it should rise smoothly from 0 to the distance
    between the two reconstructions)."""
    from symbolic.latent.representation import MelodyClip

    rng = np.random.default_rng(seed)
    group = max(sets, key=lambda s: len(s.tokens))
    pairs = min(pairs, len(group.tokens) // 2)
    rows = rng.choice(len(group.tokens), size=(pairs, 2), replace=False)
    profile = np.zeros(steps)
    for a, b in rows:
        start, end = (MelodyClip(group.tokens[i], group.time_signature) for i in (a, b))
        clips = space.interpolate(start, end, steps)
        profile += [np.mean(clip.tokens != clips[0].tokens) for clip in clips]
    return {"group": f"{group.time_signature} x{group.num_bars} bars", "pairs": pairs,
            "share_of_steps_differing_from_start": [round(v, 3) for v in profile / pairs]}


def main() -> None:
    parser = argparse.ArgumentParser(description="Evaluate the latent model (MusicVAE-style reconstruction).")
    parser.add_argument("--model-dir", type=Path, default=PRETRAINED_DIR)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--windows", type=int, default=1200, help="held-out windows to score")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--write-attribute-vectors", action="store_true",
                        help="compute attribute vectors from 4000 training windows into the model dir")
    parser.add_argument("--output", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data_path = args.data or latent_data.prepare()
    started = time.monotonic()
    model = MelodyVAE.from_pretrained(args.model_dir)
    report: dict = {"model_dir": str(args.model_dir), "data": str(data_path)}
    held = _subsample(latent_data.load(data_path, held_out=True), args.windows, args.seed)
    report["reconstruction"] = reconstruction_accuracy(model, held, args.seed)
    if args.write_attribute_vectors:
        train = _subsample(latent_data.load(data_path, held_out=False), 4000, args.seed)
        vectors = attribute_vectors(model, train)
        (args.model_dir / ATTRIBUTE_VECTORS_NAME).write_text(json.dumps(vectors) + "\n")
    space = LatentSpace.from_pretrained(args.model_dir)
    report["interpolation"] = interpolation_profile(space, held, seed=args.seed)
    if space.attribute_vectors:
        report["attribute_shifts"] = shift_effects(space, _subsample(held, 200, args.seed))
    report["seconds"] = round(time.monotonic() - started, 1)
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
