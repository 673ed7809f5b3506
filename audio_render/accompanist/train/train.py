"""Trains the accompaniment network on the pairs made by `prepare` (both parts in one model).

Training-side only. Resumable: a checkpoint (weights, optimiser, step, elapsed minutes) is written
every few minutes and at the end; run again with the same --run to continue. The learning rate warms
up, then follows a cosine over --total-minutes of training (summed across resumed runs). At the end the
serving artefact is written with `Accompanist.save_pretrained` (config.json, model.safetensors, the codec).

    train-cpu .venv/bin/python -m audio_render.accompanist.train.train --minutes 33 --total-minutes 60
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from audio_render.accompanist.beats import BeatGrid, beat_indices
from audio_render.accompanist.network import PARTS, AccompanistConfig, AccompanistNet

CODEBOOK_WEIGHTS = (1.0, 0.7, 0.5, 0.4)


class PairSet:
    """Every (input, target) pair of a split as tensors, beat indices precomputed."""

    def __init__(self, data: Path, split: str, config: AccompanistConfig) -> None:
        arrays = np.load(data / f"{split}.npz")
        meta = json.loads((data / f"{split}_meta.json").read_text())
        rate = config.frame_rate_hz
        self.inputs, self.targets, self.chroma, self.part = [], [], [], []
        self.known, self.tracked = [], []
        frames = arrays["drum_in"].shape[-1]
        for index, clip in enumerate(meta):
            known = BeatGrid(np.array(clip["beat_times_s"]), np.array(clip["downbeat"], bool))
            for part, prefix, beats_key in (("drums", "drum", "tracked_drum_beats"), ("backing", "back", "tracked_back_beats")):
                if part == "backing" and not clip["back_valid"] or part == "drums" and not clip.get("drum_valid", True):
                    continue
                tracked = BeatGrid(np.array(clip[beats_key][0]), np.array(clip[beats_key][1], bool))
                self.inputs.append(torch.from_numpy(arrays[f"{prefix}_in"][index].astype(np.int64)))
                self.targets.append(torch.from_numpy(arrays[f"{prefix}_target"][index].astype(np.int64)))
                self.chroma.append(torch.from_numpy(arrays[f"{prefix}_chroma"][index].astype(np.float32)))
                self.part.append(PARTS.index(part))
                self.known.append([torch.from_numpy(a) for a in beat_indices(known, frames, rate, config.phase_bins, config.bar_positions)])
                self.tracked.append([torch.from_numpy(a) for a in beat_indices(tracked, frames, rate, config.phase_bins, config.bar_positions)])
        self.frames = frames

    def __len__(self) -> int:
        return len(self.inputs)

    def batch(self, indices: list[int], length: int, rng: random.Random, tracked_fraction: float) -> dict[str, torch.Tensor]:
        rows = {key: [] for key in ("tokens", "chroma", "phase", "bar", "part", "target")}
        for index in indices:
            start = rng.randrange(0, self.frames - length + 1)
            stop = start + length
            phase, bar = (self.tracked if rng.random() < tracked_fraction else self.known)[index]
            rows["tokens"].append(self.inputs[index][:, start:stop])
            rows["target"].append(self.targets[index][:, start:stop])
            rows["chroma"].append(self.chroma[index][start:stop])
            rows["phase"].append(phase[start:stop])
            rows["bar"].append(bar[start:stop])
            rows["part"].append(torch.tensor(self.part[index]))
        return {key: torch.stack(value) for key, value in rows.items()}


def loss_of(net: AccompanistNet, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, list[float]]:
    hidden = net.hidden(batch["tokens"], batch["chroma"], batch["phase"], batch["bar"], batch["part"])
    total = torch.zeros(())
    accuracy = []
    for k, logits in enumerate(net.logits(hidden, batch["target"])):
        target = batch["target"][:, k]
        total = total + CODEBOOK_WEIGHTS[k] * F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))
        accuracy.append(float((logits.argmax(-1) == target).float().mean()))
    return total / sum(CODEBOOK_WEIGHTS), accuracy


@torch.no_grad()
def evaluate(net: AccompanistNet, pairs: PairSet, length: int) -> dict[str, float]:
    net.eval()
    rng = random.Random(0)
    results: dict[str, list[float]] = {}
    for part_index, part in enumerate(PARTS):
        indices = [i for i in range(len(pairs)) if pairs.part[i] == part_index]
        for begin in range(0, len(indices), 16):
            loss, accuracy = loss_of(net, pairs.batch(indices[begin : begin + 16], length, rng, tracked_fraction=1.0))
            results.setdefault(f"{part}_loss", []).append(float(loss))
            results.setdefault(f"{part}_code0_accuracy", []).append(accuracy[0])
    net.train()
    return {key: float(np.mean(value)) for key, value in results.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(".cache/accompanist/data"))
    parser.add_argument("--run", type=Path, default=Path("runs/accompanist"))
    parser.add_argument("--minutes", type=float, default=30.0, help="wall-clock cap of this run")
    parser.add_argument("--total-minutes", type=float, default=60.0, help="length of the whole schedule")
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--lr", type=float, default=8e-4)
    parser.add_argument("--tracked-fraction", type=float, default=0.3, help="batches with tracked (not annotated) beats")
    parser.add_argument("--checkpoint-minutes", type=float, default=4.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--d-model", type=int, default=192)
    parser.add_argument("--layers", type=int, default=4)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.time()
    args.run.mkdir(parents=True, exist_ok=True)
    checkpoint_path = args.run / "checkpoint.pt"
    state = torch.load(checkpoint_path, weights_only=False) if checkpoint_path.is_file() else None
    config = AccompanistConfig.from_json(state["config"]) if state else AccompanistConfig(
        d_model=args.d_model, num_layers=args.layers, ff_dim=4 * args.d_model)
    torch.manual_seed(0 if state is None else state["step"])
    net = AccompanistNet(config)
    optimiser = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    step, done_minutes = 0, 0.0
    if state:
        net.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        step, done_minutes = state["step"], state["minutes"]
    print(f"{sum(p.numel() for p in net.parameters()) / 1e6:.2f} M parameters, resuming at step {step}", flush=True)
    train = PairSet(args.data, "train", config)
    test = PairSet(args.data, "test", config)
    print(f"{len(train)} training pairs, {len(test)} held-out pairs, loaded in {time.time() - started:.0f} s", flush=True)
    rng = random.Random(step)
    log = open(args.run / "log.jsonl", "a")
    last_checkpoint = time.time()

    def save() -> None:
        torch.save({"config": config.to_json(), "model": net.state_dict(), "optimiser": optimiser.state_dict(),
                    "step": step, "minutes": done_minutes + (time.time() - run_started) / 60}, checkpoint_path)

    run_started = time.time()
    net.train()
    while time.time() - run_started < args.minutes * 60:
        minutes = done_minutes + (time.time() - run_started) / 60
        progress = min(1.0, minutes / args.total_minutes)
        lr = args.lr * min(1.0, (step + 1) / 150) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in optimiser.param_groups:
            group["lr"] = lr
        batch = train.batch([rng.randrange(len(train)) for _ in range(args.batch)], config.window_frames, rng,
                            args.tracked_fraction)
        loss, accuracy = loss_of(net, batch)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimiser.step()
        step += 1
        if step % 25 == 0:
            record = {"step": step, "minutes": round(minutes, 2), "lr": lr, "loss": loss.item(),
                      "code0_accuracy": accuracy[0]}
            if step % 200 == 0:
                record |= evaluate(net, test, config.window_frames)
            log.write(json.dumps(record) + "\n")
            log.flush()
            print(json.dumps(record), flush=True)
        if time.time() - last_checkpoint > args.checkpoint_minutes * 60:
            save()
            last_checkpoint = time.time()
    save()
    final = evaluate(net, test, config.window_frames) | {"step": step}
    print(json.dumps(final), flush=True)
    from audio_render.accompanist.model import Accompanist
    from audio_render.codec import PRETRAINED_CODEC_DIR, MelCodec

    net.eval()
    Accompanist(net, MelCodec.from_pretrained(PRETRAINED_CODEC_DIR)).save_pretrained(args.run / "model")
    (args.run / "model" / "train_eval.json").write_text(json.dumps(final, indent=2))


if __name__ == "__main__":
    main()
