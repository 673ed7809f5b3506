"""Trains the mel codec: per-band statistics, then K residual k-means stages over log-mel frames.

Training-side only. Reads the clips made by `audio_render.melody.train.prepare`, evaluates on the held-out
clips against the Griffin-Lim-from-true-mel baseline (same inversion, unquantised mel), and saves with
`MelCodec.save_pretrained`.

    nice -n 10 .venv/bin/python -m audio_render.codec.train --data .cache/melody/data --out runs/codec
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from audio_render.codec.mel_codec import MelCodec, MelCodecConfig
from audio_render.codec.metrics import log_mel_l1_db


def kmeans(points: torch.Tensor, clusters: int, iterations: int, generator: torch.Generator) -> torch.Tensor:
    """Plain Lloyd's k-means with random-point init; empty clusters are re-seeded from the worst-fit points."""
    centroids = points[torch.randperm(points.shape[0], generator=generator)[:clusters]].clone()
    norms = points.pow(2).sum(-1, keepdim=True)
    for _ in range(iterations):
        distance = norms - 2 * points @ centroids.T + centroids.pow(2).sum(-1)[None]
        best, assignment = distance.min(-1)
        counts = torch.bincount(assignment, minlength=clusters).float()
        sums = torch.zeros_like(centroids).index_add_(0, assignment, points)
        alive = counts > 0
        centroids[alive] = sums[alive] / counts[alive, None]
        dead = int((~alive).sum())
        if dead:
            centroids[~alive] = points[best.topk(dead).indices]
    return centroids


def load_clips(data: Path, split: str) -> np.ndarray:
    return np.load(data / f"{split}_audio.npy").astype(np.float32) / 32767.0


def evaluate(codec: MelCodec, clips: np.ndarray, rate: int, count: int) -> dict[str, float]:
    """Mean log-mel L1 (dB) of codec round trips and of the Griffin-Lim-from-true-mel baseline."""
    codec_db, baseline_db, mel_err = [], [], []
    started = time.time()
    for clip in clips[:count]:
        wav = codec.prepare_audio(clip, rate)
        true_log_mel = codec.log_mel(wav)
        tokens = codec.quantise(codec.normalise(true_log_mel))
        quantised = codec.denormalise(codec.dequantise(tokens))
        mel_err.append(float((quantised - true_log_mel).abs().mean()))
        codec_db.append(log_mel_l1_db(clip, codec.mel_to_audio(quantised), rate))
        baseline_db.append(log_mel_l1_db(clip, codec.mel_to_audio(true_log_mel), rate))
    seconds = count * clips.shape[1] / rate
    return {
        "codec_log_mel_l1_db": float(np.mean(codec_db)),
        "griffin_lim_true_mel_l1_db": float(np.mean(baseline_db)),
        "codec_mel_error_nats": float(np.mean(mel_err)),
        "eval_clips": count,
        "eval_x_realtime": seconds / (time.time() - started) * 2,  # two decodes per clip
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(".cache/melody/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/codec"))
    parser.add_argument("--codebooks", type=int, default=4)
    parser.add_argument("--codebook-size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=250_000, help="training frames sampled for k-means")
    parser.add_argument("--iterations", type=int, default=25)
    parser.add_argument("--eval-clips", type=int, default=24)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    meta = json.loads((args.data / "meta.json").read_text())
    rate = int(meta["sample_rate_hz"])

    codec = MelCodec(MelCodecConfig(num_codebooks=args.codebooks, codebook_size=args.codebook_size))
    started = time.time()
    train = load_clips(args.data, "train")
    frames = []
    with torch.no_grad():
        for begin in range(0, len(train), 64):
            batch = torch.from_numpy(train[begin : begin + 64])
            frames.append(codec.log_mel(batch).reshape(-1, codec.config.n_mels))
    frames = torch.cat(frames)
    print(f"{frames.shape[0]} frames in {time.time() - started:.0f} s", flush=True)
    codec.band_mean.copy_(frames.mean(0))
    codec.band_std.copy_(frames.std(0).clamp_min(1e-3))
    sample = codec.normalise(frames[torch.randperm(frames.shape[0], generator=generator)[: args.frames]])
    residual = sample
    with torch.no_grad():
        for stage in range(args.codebooks):
            centroids = kmeans(residual, args.codebook_size, args.iterations, generator)
            codec.codebooks[stage].copy_(centroids)
            distance = residual.pow(2).sum(-1, keepdim=True) - 2 * residual @ centroids.T + centroids.pow(2).sum(-1)[None]
            residual = residual - centroids[distance.argmin(-1)]
            print(f"stage {stage}: residual rms {residual.pow(2).mean().sqrt():.3f}, {time.time() - started:.0f} s", flush=True)
        codec.save_pretrained(args.out)
        report = evaluate(codec, load_clips(args.data, "test"), rate, args.eval_clips)
    report.update({"codebooks": args.codebooks, "codebook_size": args.codebook_size, "train_s": time.time() - started})
    (args.out / "eval.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2), flush=True)


if __name__ == "__main__":
    main()
