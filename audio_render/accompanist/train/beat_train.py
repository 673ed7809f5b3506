"""Trains the beat tracker's network on the shards of `beat_data` (resumable, one thread, time-capped).

Training-side only. Targets are the annotated beats and downbeats as frames (1 on the beat's frame,
0.5 on its neighbours); the loss is binary cross-entropy on both activations. A validation set (every
20th training song by name, and every 10th click clip; never POP909's held-out songs, which no shard
contains) chooses the checkpoint by mir_eval's beat F-measure (70 ms) of the decoded beats.

    train-cpu .venv/bin/python -m audio_render.accompanist.train.beat_train --minutes 30
    train-cpu .venv/bin/python -m audio_render.accompanist.train.beat_train --minutes 10 --resume
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import zlib
from pathlib import Path

import numpy as np
import torch

from audio_render.accompanist.beat_model import BeatConfig, BeatTracker, decode_beats, make_net

CROP_FRAMES = 512


def load_shards(folder: Path) -> dict[str, np.ndarray]:
    parts = [np.load(path) for path in sorted(folder.glob("shard_*.npz"))]
    if not parts:
        raise SystemExit(f"no shard_*.npz in {folder}: run audio_render.accompanist.train.beat_data first")
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0].files}


def targets(times: np.ndarray, frames: int, frame_rate_hz: float) -> np.ndarray:
    out = np.zeros(frames, np.float32)
    index = np.rint(times[np.isfinite(times)] * frame_rate_hz).astype(int)
    for offset, value in ((-1, 0.5), (1, 0.5), (0, 1.0)):
        at = index + offset
        at = at[(at >= 0) & (at < frames)]
        out[at] = np.maximum(out[at], value)
    return out


def is_validation(song: str, position: int) -> bool:
    return (position % 10 == 0) if song == "clicks" else zlib.crc32(song.encode()) % 20 == 0


def f_measure(reference: np.ndarray, estimated: np.ndarray) -> float:
    import mir_eval

    return float(mir_eval.beat.f_measure(reference, estimated, f_measure_threshold=0.07))


def validate(net, features: torch.Tensor, beats: np.ndarray, config: BeatConfig) -> tuple[float, float]:
    """(mean beat F of the decoded beats, mean loss) over the validation inputs."""
    net.eval()
    scores, losses = [], []
    with torch.inference_mode():
        for index in range(features.shape[0]):
            logits = net(features[index : index + 1])[0]
            target = torch.from_numpy(np.stack([targets(beats[index], logits.shape[1], config.frame_rate_hz)]))
            losses.append(float(torch.nn.functional.binary_cross_entropy_with_logits(logits[:1], target)))
            activation = torch.sigmoid(logits[0]).numpy().astype(np.float64)
            reference = beats[index][np.isfinite(beats[index])]
            scores.append(f_measure(reference[reference >= 0], decode_beats(activation, config.frame_rate_hz, config)))
    net.train()
    return float(np.mean(scores)), float(np.mean(losses))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(".cache/accompanist/beats"))
    parser.add_argument("--work", type=Path, default=Path(".cache/accompanist/beat_run"), help="checkpoints and log")
    parser.add_argument("--out", type=Path, default=Path("audio_render/pretrained/beats"), help="the best model")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--total-steps", type=int, default=6000, help="length of the cosine schedule")
    parser.add_argument("--validate-every", type=int, default=400)
    parser.add_argument("--validation-inputs", type=int, default=96, help="validation inputs decoded at each check")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    data = load_shards(args.data)
    raw = data["features"].astype(np.float32)
    config = BeatConfig()
    validation = np.array([is_validation(str(song), i) for i, song in enumerate(data["song"])])
    config = dataclasses.replace(config, feature_mean=float(raw[~validation].mean()), feature_std=float(raw[~validation].std()))
    features = torch.from_numpy((raw - config.feature_mean) / config.feature_std)
    del raw
    frames = features.shape[2]
    beat_targets = torch.from_numpy(np.stack([targets(b, frames, config.frame_rate_hz) for b in data["beats"]]))
    downbeat_times = [np.where(d[: b.size], b, np.nan) for b, d in zip(data["beats"], data["downbeats"])]
    downbeat_targets = torch.from_numpy(np.stack([targets(t, frames, config.frame_rate_hz) for t in downbeat_times]))
    train_index = np.flatnonzero(~validation)
    valid_index = np.flatnonzero(validation)
    valid_index = valid_index[np.linspace(0, valid_index.size - 1, min(args.validation_inputs, valid_index.size)).astype(int)]
    print(f"{train_index.size} training inputs, {valid_index.size} validation inputs "
          f"(kinds {dict(zip(*np.unique(data['kind'], return_counts=True)))})", flush=True)
    net = make_net(config)
    optimizer = torch.optim.AdamW(net.parameters(), lr=args.learning_rate, weight_decay=1e-4)
    args.work.mkdir(parents=True, exist_ok=True)
    checkpoint_path = args.work / "checkpoint.pt"
    step, best, spent_s = 0, -1.0, 0.0
    if args.resume and checkpoint_path.is_file():
        state = torch.load(checkpoint_path, weights_only=False)
        net.load_state_dict(state["net"])
        optimizer.load_state_dict(state["optimizer"])
        step, best, spent_s = state["step"], state["best"], state.get("spent_s", 0.0)
        if state.get("config") != dataclasses.asdict(config):
            raise SystemExit("the shards changed since the checkpoint (feature statistics differ): start afresh")
        rng = state["rng"]
        print(f"resumed at step {step}, best validation F {best:.4f}", flush=True)
    print(f"{sum(p.numel() for p in net.parameters())} parameters", flush=True)
    started = time.time()
    last_save = started
    running = []
    net.train()
    while time.time() - started < args.minutes * 60:
        rate = args.learning_rate * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * min(1.0, step / args.total_steps))))
        for group in optimizer.param_groups:
            group["lr"] = rate
        chosen = rng.choice(train_index, size=args.batch)
        offsets = rng.integers(0, frames - CROP_FRAMES + 1, size=args.batch)
        window = [slice(o, o + CROP_FRAMES) for o in offsets]
        x = torch.stack([features[i, :, w] for i, w in zip(chosen, window)])
        y = torch.stack([torch.stack([beat_targets[i, w], downbeat_targets[i, w]]) for i, w in zip(chosen, window)])
        logits = net(x)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimizer.step()
        step += 1
        running.append(float(loss.detach()))
        if step % 100 == 0:
            print(f"step {step} loss {np.mean(running):.4f} lr {rate:.2e} {time.time() - started:.0f} s", flush=True)
            running = []
        if step % args.validate_every == 0:
            score, valid_loss = validate(net, features[valid_index], data["beats"][valid_index], config)
            print(f"step {step} validation F {score:.4f} loss {valid_loss:.4f}", flush=True)
            if score > best:
                best = score
                trained = {"step": step, "validation_f": round(score, 4), "inputs": int(train_index.size),
                           "data": "beat_data shards: POP909 training songs (every 10th song held out) and click tracks"}
                _save_best(net, config, trained, args.out)
                print(f"  saved best to {args.out}", flush=True)
        if time.time() - last_save > 120:
            _checkpoint(checkpoint_path, net, optimizer, step, best, spent_s + time.time() - started, rng, config)
            last_save = time.time()
    _checkpoint(checkpoint_path, net, optimizer, step, best, spent_s + time.time() - started, rng, config)
    print(f"done at step {step}, best validation F {best:.4f}, {spent_s + time.time() - started:.0f} s in all", flush=True)


def _save_best(net, config: BeatConfig, trained: dict, out: Path) -> None:
    copy = make_net(config)
    copy.load_state_dict(net.state_dict())
    BeatTracker(copy, dataclasses.replace(config, trained=trained)).save_pretrained(out)


def _checkpoint(path: Path, net, optimizer, step: int, best: float, spent_s: float, rng, config: BeatConfig) -> None:
    torch.save({"net": net.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "best": best,
                "spent_s": spent_s, "rng": rng, "config": dataclasses.asdict(config)}, path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)


if __name__ == "__main__":
    main()
