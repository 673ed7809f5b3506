"""Trains the trio model (trio.TrioVAE) over the frozen part models:

    python -m symbolic.latent.train_trio --drum-dir DIR [--drums-model DIR] [--minutes 20] [--resume]

Data: trio_data.prepare (POP909 melody + bass with paired drums, 2-bar windows; held-out songs as in
pop909.py). Every window is first encoded by the part models (the line model for melody and bass, the
drum model for drums; cached in the run directory). Then two phases, one wall-clock budget:
1. "means" (--means-minutes): the trio VAE maps the part means to a trio latent and back, trained with
   the squared error of the normalised part latents plus beta * max(KL - free_nats, 0);
2. "tokens" (the rest): the decoded part latents go through the frozen part decoders teacher-forced, and
   the loss is the three parts' summed cross-entropy plus the same KL term (plus a small share of the
   squared error, which keeps the part latents near where the part decoders were trained).
The best model by held-out teacher-forced accuracy (mean of the three parts, z = the trio mean) is
written in the shipped layout to <run-dir>/best/; checkpoint.pt (model, optimiser, phase, step, RNG) every
few minutes, so --resume continues a stopped run. The server never imports this module.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import math
import signal
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from symbolic.latent import trio_data
from symbolic.latent.drum_space import PRETRAINED_DRUMS_DIR, DrumSpace
from symbolic.latent.model import MelodyVAE
from symbolic.latent.representation import metric_features
from symbolic.latent.space import PRETRAINED_DIR, LatentSpace
from symbolic.latent.trio import TrioConfig, TrioVAE

log = logging.getLogger("symbolic.latent.train_trio")
METER = trio_data.METER


def _digest(directory: Path) -> str:
    return hashlib.sha1((Path(directory) / "model.safetensors").read_bytes()).hexdigest()[:10]


def part_means(lines: LatentSpace, drums: DrumSpace, windows: np.ndarray,
               batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and scales (each (N, 256 + 256 + drum dims)) of the part models for (N, 3, steps)
    windows."""
    features = metric_features(METER, windows.shape[2])
    rows, scales = [], []
    for begin in range(0, len(windows), batch):
        chunk = torch.from_numpy(windows[begin:begin + batch].astype(np.int64))
        feats = torch.from_numpy(features).unsqueeze(0).expand(chunk.shape[0], -1, -1)
        with torch.no_grad():
            parts = [lines.model.encode(chunk[:, 0], feats), lines.model.encode(chunk[:, 1], feats),
                     drums.model.encode(chunk[:, 2], feats)]
        rows.append(torch.cat([mean for mean, _ in parts], dim=1).numpy())
        scales.append(torch.cat([scale for _, scale in parts], dim=1).numpy())
    return np.concatenate(rows), np.concatenate(scales)


def kl_of(mean: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return 0.5 * (mean.pow(2) + scale.pow(2) - 1 - 2 * torch.log(scale)).sum(-1)


def token_loss(model: TrioVAE, parts_models: list[MelodyVAE], z: torch.Tensor, tokens: torch.Tensor,
               features: torch.Tensor) -> tuple[torch.Tensor, list[float]]:
    """Summed cross-entropy of the three parts teacher-forced from the decoded part latents, and each
    part's per-step accuracy."""
    latents = model.split_parts(model.decode(z))
    total, accuracies = 0.0, []
    for part, (decoder, latent) in enumerate(zip(parts_models, latents)):
        logits = decoder.teacher_forced_logits(latent, tokens[:, part], features)
        total = total + torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), tokens[:, part].reshape(-1), reduction="sum") / tokens.shape[0]
        accuracies.append((logits.argmax(-1) == tokens[:, part]).float().mean().item())
    return total, accuracies


@torch.no_grad()
def held_out(model: TrioVAE, parts_models: list[MelodyVAE], means: np.ndarray, windows: np.ndarray) -> dict:
    model.eval()
    tokens = torch.from_numpy(windows)
    features = torch.from_numpy(metric_features(METER, windows.shape[2])).unsqueeze(0).expand(len(windows), -1, -1)
    x = torch.from_numpy(means)
    mean, scale = model.encode(x)
    _, accuracies = token_loss(model, parts_models, mean, tokens, features)
    mse = ((model.decode_normalised(mean) - model.normalise(x)) ** 2).mean().item()
    model.train()
    return {"tf_acc": float(np.mean(accuracies)), "parts": [round(a, 4) for a in accuracies], "mse": mse,
            "kl": kl_of(mean, scale).mean().item()}


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the trio latent model over the frozen part models.")
    parser.add_argument("--drum-dir", type=Path, required=True, help="drum MIDI files (GMD) for the paired drums")
    parser.add_argument("--pop909", type=Path, default=None)
    parser.add_argument("--lines-model", type=Path, default=PRETRAINED_DIR)
    parser.add_argument("--drums-model", type=Path, default=PRETRAINED_DRUMS_DIR)
    parser.add_argument("--run-dir", type=Path, default=Path("runs/latent_trio"))
    parser.add_argument("--minutes", type=float, default=20.0, help="wall-clock budget of this run")
    parser.add_argument("--means-minutes", type=float, default=6.0, help="of which the first phase")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--init-from", type=Path, default=None, help="start from this trained trio model directory")
    parser.add_argument("--latent-dim", type=int, default=TrioConfig.latent_dim)
    parser.add_argument("--hidden", type=int, default=TrioConfig.hidden)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--means-batch-size", type=int, default=256)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--beta", type=float, default=0.05)
    parser.add_argument("--free-bits", type=float, default=256.0)
    parser.add_argument("--mse-weight", type=float, default=5.0, help="squared-error weight in the tokens phase")
    parser.add_argument("--eval-every", type=int, default=200)
    parser.add_argument("--eval-windows", type=int, default=512)
    parser.add_argument("--checkpoint-minutes", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limit-windows", type=int, default=0, help="train on this many windows only (smoke runs)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        handlers=[logging.FileHandler(args.run_dir / "train.log"), logging.StreamHandler()])
    lines, drums = LatentSpace.from_pretrained(args.lines_model), DrumSpace.from_pretrained(args.drums_model)
    parts_models = [lines.model, lines.model, drums.model]
    for part in parts_models:
        part.requires_grad_(False)
    data_path = trio_data.prepare(args.drum_dir, root=args.pop909)
    train_windows = trio_data.load_windows(data_path, held_out=False)
    held_windows = trio_data.load_windows(data_path, held_out=True)
    rng = np.random.default_rng(args.seed)
    held_windows = held_windows[rng.permutation(len(held_windows))[:args.eval_windows]]
    if args.limit_windows:
        train_windows = train_windows[rng.permutation(len(train_windows))[:args.limit_windows]]
    cache = args.run_dir / (f"part_means_v2_{_digest(args.lines_model)}_{_digest(args.drums_model)}"
                            f"{f'_{args.limit_windows}' if args.limit_windows else ''}.npz")
    if cache.exists():
        stored = np.load(cache)
        train_means, held_means, train_scales = stored["train"], stored["held"], stored["train_scales"]
    else:
        started = time.monotonic()
        (train_means, train_scales), (held_means, _) = (part_means(lines, drums, train_windows),
                                                        part_means(lines, drums, held_windows))
        np.savez(cache, train=train_means, held=held_means, train_scales=train_scales)
        log.info("encoded %d + %d windows with the part models in %.0f s", len(train_means), len(held_means),
                 time.monotonic() - started)
    log.info("data %s: %d train windows, %d held-out windows", data_path.name, len(train_windows), len(held_windows))

    checkpoint_path = args.run_dir / "checkpoint.pt"
    torch.manual_seed(args.seed)
    config = TrioConfig(part_dims=[lines.model.config.latent_dim] * 2 + [drums.model.config.latent_dim],
                        latent_dim=args.latent_dim, hidden=args.hidden)
    model = TrioVAE(config)
    model.center.copy_(torch.from_numpy(train_means.mean(0)))
    model.spread.copy_(torch.from_numpy(train_means.std(0) + 1e-3))
    # Squared errors count per dimension by how much the part posterior says about it: the spread of the
    # means over the data relative to the mean posterior scale (a dimension the part decoder ignores,
    # with means near 0 and scale near 1, counts little), normalised to mean 1 within each part (so the
    # three parts weigh alike) and clipped.
    snr = (train_means.std(0) / train_scales.mean(0)) ** 2
    weight = np.concatenate([np.clip(part / part.mean(), 0.02, 20.0)
                             for part in np.split(snr, np.cumsum(config.part_dims)[:-1])])
    weight = torch.from_numpy(weight.astype(np.float32))
    log.info("squared-error weights per dimension: min %.3f median %.3f max %.3f (melody %.2f, bass %.2f, "
             "drums %.2f on average)", weight.min(), weight.median(), weight.max(),
             *(w.mean().item() for w in torch.split(weight, config.part_dims)))
    if args.init_from is not None:
        model.load_state_dict(TrioVAE.from_pretrained(args.init_from).state_dict())
        model.train()
        log.info("starting from the weights in %s", args.init_from)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    step, best, elapsed_before = 0, -1.0, 0.0
    if args.resume and checkpoint_path.exists():
        state = torch.load(checkpoint_path, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, best, elapsed_before = state["step"], state["best"], state["elapsed"]
        torch.set_rng_state(state["torch_rng"])
        rng = np.random.default_rng(args.seed + step)
        log.info("resumed from step %d after %.1f min (best %.4f)", step, elapsed_before / 60, best)
    log.info("trio model %s, %.2f M parameters", asdict(config), sum(p.numel() for p in model.parameters()) / 1e6)

    def save_checkpoint(elapsed: float) -> None:
        tmp = checkpoint_path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "best": best,
                    "elapsed": elapsed, "torch_rng": torch.get_rng_state()}, tmp)
        tmp.replace(checkpoint_path)

    stop_requested: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stop_requested.append(True))
    free_nats = args.free_bits * math.log(2)
    features = torch.from_numpy(metric_features(METER, train_windows.shape[2]))
    started = last_checkpoint = time.monotonic()
    train_x = torch.from_numpy(train_means)
    running: dict[str, float] = {}
    model.train()
    while not stop_requested:
        elapsed = elapsed_before + time.monotonic() - started
        if elapsed > args.minutes * 60:
            break
        phase = "means" if elapsed < args.means_minutes * 60 else "tokens"
        size = args.means_batch_size if phase == "means" else args.batch_size
        rows = torch.from_numpy(rng.integers(0, len(train_x), size=size))
        x = train_x[rows]
        mean, scale = model.encode(x)
        z = mean + scale * torch.randn_like(scale)
        kl = kl_of(mean, scale)
        mse = (weight * (model.decode_normalised(z) - model.normalise(x)) ** 2).sum(-1)
        kl_cost = args.beta * torch.clamp(kl - free_nats, min=0.0)
        if phase == "means":
            loss = (mse + kl_cost).mean()
            accuracies: list[float] = []
        else:
            tokens = torch.from_numpy(train_windows[rows.numpy()])
            cross_entropy, accuracies = token_loss(model, parts_models, z, tokens,
                                                   features.unsqueeze(0).expand(size, -1, -1))
            loss = cross_entropy + (args.mse_weight * mse + kl_cost).mean()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        stats = {"loss": loss.item(), "mse": mse.mean().item() / sum(config.part_dims), "kl": kl.mean().item()}
        if accuracies:
            stats["acc"] = float(np.mean(accuracies))
        for key, value in stats.items():
            running[key] = 0.95 * running.get(key, value) + 0.05 * value
        if step % 50 == 0:
            log.info("step %d %s  loss %.2f mse/dim %.3f kl %.1f%s", step, phase, running["loss"], running["mse"],
                     running["kl"], f" acc {running['acc']:.3f}" if "acc" in running else "")
        if step % args.eval_every == 0:
            figures = held_out(model, parts_models, held_means, held_windows)
            log.info("eval step %d (%s): held-out teacher-forced accuracy %.4f (melody, bass, drums %s), "
                     "mse/dim %.3f, KL %.1f", step, phase, figures["tf_acc"], figures["parts"], figures["mse"],
                     figures["kl"])
            if figures["tf_acc"] > best:
                best = figures["tf_acc"]
                model.save_pretrained(args.run_dir / "best", extra={
                    "step": step, "phase": phase, "held_out_teacher_forced_accuracy": round(best, 4),
                    "held_out_parts": figures["parts"], "lines_model": _digest(args.lines_model),
                    "drums_model": _digest(args.drums_model), "beta": args.beta, "free_bits": args.free_bits,
                    "data": data_path.name})
                log.info("new best written to %s", args.run_dir / "best")
        if time.monotonic() - last_checkpoint > args.checkpoint_minutes * 60:
            save_checkpoint(elapsed_before + time.monotonic() - started)
            last_checkpoint = time.monotonic()
    save_checkpoint(elapsed_before + time.monotonic() - started)
    log.info("stopped at step %d; best held-out accuracy %.4f", step, best)


if __name__ == "__main__":
    main()
