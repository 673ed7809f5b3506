"""Evaluates the latent model the way MusicVAE reports it, and builds its attribute vectors.

    python -m symbolic.latent.evaluate [--model-dir symbolic/pretrained/latent] [--windows 1200]
    python -m symbolic.latent.evaluate --write-attribute-vectors   # then evaluates the shifts too

Held-out windows: folk (tunes split by hash) plus POP909 melody and bass lines (every tenth song).
The independent judge, measured through MIDI files on excerpts, is evaluate_external.

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


# Attributes that measure the same thing (onsets per bar vs per step) are not held apart from each other.
TWINS = {"notes_per_bar": "rhythm_intensity", "rhythm_intensity": "notes_per_bar"}
CALIBRATION_GAINS = (1.0, 1.5, 2.0, 3.0, 4.0)


@torch.no_grad()
def _latents_and_attributes(model: MelodyVAE, sets: list[latent_data.WindowSet]) -> tuple[np.ndarray, dict]:
    latents, values = [], {name: [] for name in ATTRIBUTES}
    for group in sets:
        tokens = torch.from_numpy(group.tokens.astype(np.int64))
        features = features_tensor(metric_features(group.time_signature, tokens.shape[1]), tokens.shape[0])
        mean, _ = model.encode(tokens, features)
        latents.append(mean.numpy())
        for row in group.tokens:
            for name, value in measure(row, group.time_signature.steps_per_bar).items():
                values[name].append(value)
    return np.concatenate(latents), {name: np.array(v) for name, v in values.items()}


def attribute_vectors(model: MelodyVAE, sets: list[latent_data.WindowSet], ridge: float = 0.1) -> dict[str, dict]:
    """Attribute directions that move one attribute and hold the others.

    MusicVAE's vector is the mean latent of the top quartile of clips by the attribute minus that of
    the bottom quartile; on this model it also carries whatever correlates with the attribute (denser
    clips are also higher), and pitch range moved the right way in only 16% of held-out clips. Here
    that vector is kept as the start, and the part of it that a ridge regression from latent to the
    other (standardised) attributes says would change them is removed: the vector is projected onto the
    null space of the other attributes' regression weights (twins such as notes_per_bar and
    rhythm_intensity are not held apart). Shift amount 1.0 moves by std/delta times the vector, as in
    MusicVAE; calibrate() then scales it against decoded clips.
    """
    z, values = _latents_and_attributes(model, sets)
    centred = z - z.mean(0)
    gram = centred.T @ centred + ridge * len(z) * np.eye(z.shape[1])
    weights = {name: np.linalg.solve(gram, centred.T @ ((v - v.mean()) / (v.std() or 1.0)))
               for name, v in values.items()}
    result = {}
    for name in ATTRIBUTES:
        v = values[name]
        low, high = np.quantile(v, [0.25, 0.75])
        top, bottom = v >= high, v <= low
        direction = z[top].mean(0) - z[bottom].mean(0)
        others = [other for other in ATTRIBUTES if other != name and other != TWINS.get(name)]
        w = np.stack([weights[other] for other in others], axis=1)  # (latent, others)
        direction = direction - w @ np.linalg.solve(w.T @ w, w.T @ direction)
        result[name] = {"direction": direction.round(6).tolist(),
                        "attribute_delta": float(v[top].mean() - v[bottom].mean()),
                        "attribute_std": float(v.std()), "windows": int(len(z)), "gain": 1.0,
                        "method": "quartile mean difference, held apart from " + ", ".join(others)}
    return result


def calibrate(space: LatentSpace, vectors: dict[str, dict], sets: list[latent_data.WindowSet]) -> dict[str, dict]:
    """Scales each direction (CALIBRATION_GAINS) so that a shift of +-1 moves the decoded attribute the
    requested way in at least 90% of clips and by about one standard deviation on average; keeps the
    smallest gain that does, else the one with the best share."""
    from symbolic.latent.representation import MelodyClip

    clips, latents, base = [], [], []
    for group in sets:
        group_clips = [MelodyClip(row, group.time_signature) for row in group.tokens]
        group_latents = space.encode(group_clips)
        decoded = space.decode(group_latents, group_clips[0])
        clips.append(group_clips)
        latents.append(group_latents)
        base.append([measure(c.tokens, group.time_signature.steps_per_bar) for c in decoded])
    from symbolic.latent.space import CLIP_SHIFTS

    for name, entry in vectors.items():
        if name in CLIP_SHIFTS:  # served as edits of the clip, not as this vector
            entry["calibration"] = {"served_as": "an edit of the clip (LatentSpace.shift_clip)"}
            continue
        direction = np.array(entry["direction"], dtype=np.float32)
        std = entry["attribute_std"]
        unit = direction * std / entry["attribute_delta"]  # what LatentSpace.shift adds for amount 1.0
        best = None
        for gain in CALIBRATION_GAINS:
            right, changes = [], []
            for group, group_clips, group_latents, group_base in zip(sets, clips, latents, base):
                for sign in (1.0, -1.0):
                    decoded = space.decode(group_latents + sign * gain * unit, group_clips[0])
                    for before, clip in zip(group_base, decoded):
                        change = measure(clip.tokens, group.time_signature.steps_per_bar)[name] - before[name]
                        right.append(change * sign > 0)
                        changes.append(change * sign / std)
            share, moved = float(np.mean(right)), float(np.mean(changes))
            if best is None or share > best[1]:
                best = (gain, share, moved)
            if share >= 0.9 and moved >= 0.5:
                best = (gain, share, moved)
                break
        gain, share, moved = best
        entry["direction"] = (direction * gain).round(6).tolist()
        entry["gain"] = gain
        entry["calibration"] = {"requested_direction": round(share, 3), "mean_change_sd": round(moved, 3),
                                "clips": int(sum(len(c) for c in clips))}
    return vectors


def shift_effects(space: LatentSpace, sets: list[latent_data.WindowSet], amount: float = 1.0) -> dict:
    """Mean change of each measured attribute when its vector is added (+amount) or subtracted,
    relative to the plain greedy reconstruction of the same held-out windows."""
    from symbolic.latent.representation import MelodyClip

    from symbolic.latent.space import CLIP_SHIFTS

    changes: dict[str, dict[str, list[float]]] = {name: {"+": [], "-": []} for name in space.attribute_vectors
                                                  if name not in CLIP_SHIFTS}
    for group in sets:
        clips = [MelodyClip(row, group.time_signature) for row in group.tokens]
        latents = space.encode(clips)
        steps_per_bar = group.time_signature.steps_per_bar
        base = [measure(c.tokens, steps_per_bar) for c in space.decode(latents, clips[0])]
        for name in changes:
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
                        help="compute attribute vectors from 6000 training windows into the model dir")
    parser.add_argument("--output", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.data is not None:
        sources: list[tuple[Path, str | None]] = [(args.data, None)]
    else:
        from symbolic.latent import pop909

        pop_path = pop909.prepare(latent_data.default_cache_dir())
        sources = [(latent_data.prepare(), None), (pop_path, "/melody"), (pop_path, "/bass")]
    started = time.monotonic()
    model = MelodyVAE.from_pretrained(args.model_dir)
    report: dict = {"model_dir": str(args.model_dir), "data": [str(p) for p, _ in sources]}
    held_sets = []
    for path, kind in sources:
        held_sets += latent_data.load(path, held_out=True, kind=kind)
    held = _subsample(held_sets, args.windows, args.seed)
    report["reconstruction"] = reconstruction_accuracy(model, held, args.seed)
    if args.write_attribute_vectors:
        train_sets = []  # 2-bar windows: the pieces LatentSpace reads (space.PIECE_BARS)
        for path, kind in sources:
            train_sets += [s for s in latent_data.load(path, held_out=False, kind=kind) if s.num_bars == 2]
        train = _subsample(train_sets, 6000, args.seed)
        vectors = attribute_vectors(model, train)
        vectors = calibrate(LatentSpace(model), vectors, _subsample(train_sets, 240, args.seed + 1))
        (args.model_dir / ATTRIBUTE_VECTORS_NAME).write_text(json.dumps(vectors) + "\n")
        report["attribute_vector_calibration"] = {name: v["calibration"] for name, v in vectors.items()}
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
