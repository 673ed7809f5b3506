"""Trains the 16-bar hierarchical model (hierarchical.py) on top of the frozen 2-bar model:

    python -m symbolic.latent.train_hierarchical --phase tokens --linear-paths --latent-dim 768 --minutes 0
        # the shipped recipe: the linear paths started as PCA of the piece means, evaluated, kept as best
    python -m symbolic.latent.train_hierarchical --phase tokens --resume --minutes 12 --learning-rate 2e-5
        # a gentle fine-tune through the frozen decoder (kept only if held-out greedy accuracy rises)
    python -m symbolic.latent.train_hierarchical --export symbolic/pretrained/latent16
    (LSTMs only, the first model: --phase means --minutes 5, then --phase tokens --resume)

Data: 16-bar windows (hop 4 bars, a note in 12 of the 16 bars, two notes per bar on average) of the
POP909 melody and bass lines (pop909.song_lines; every tenth song held out, as for the 2-bar model),
cut into the 2-bar pieces LatentSpace reads and encoded once by the frozen 2-bar encoder; windows and
piece means are cached in <run-dir>/windows.npz. The folk corpus is not used: its cache keeps only 2-
and 4-bar windows.

Phases (the run directory keeps one checkpoint; --resume continues it, whatever the phase):
- means: the conductor learns to give back the 8 piece means (squared error) from z16, plus
  beta * max(KL - free_nats, 0). Cheap: no 2-bar decoder in the loop.
- tokens: the conductor's piece latents go through the frozen 2-bar decoder, teacher-forced, and the
  loss is the per-step cross-entropy of the tokens (plus the squared error, weighted, and the KL term);
  windows are transposed at random (+-6 semitones) and re-encoded each batch.
The best model by held-out greedy (free-running) step accuracy through the frozen decoder, z16 = the
posterior mean as served, is written in the shipped layout to <run-dir>/best/; a new model is evaluated
before its first step. The server never imports this module.
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from symbolic.latent import data as latent_data
from symbolic.latent.hierarchical import ConductorVAE, HierarchicalConfig
from symbolic.latent.model import MelodyVAE
from symbolic.latent.representation import NO_EVENT, NOTE_OFF, NUM_PITCHES, TimeSignature, metric_features
from symbolic.latent.space import PRETRAINED_DIR as BASE_DIR

log = logging.getLogger("symbolic.latent.train_hierarchical")

SECTION_BARS = 16
HOP_BARS = 4


def windows_of(grid: np.ndarray, meter: TimeSignature, hop_bars: int = HOP_BARS) -> list[np.ndarray]:
    """16-bar windows of a whole-song grid with a note in 12 of 16 bars and two notes a bar on average."""
    steps_per_bar = meter.steps_per_bar
    length = SECTION_BARS * steps_per_bar
    found = []
    for start in range(0, len(grid) - length + 1, hop_bars * steps_per_bar):
        window = grid[start:start + length].copy()
        onsets = window < NUM_PITCHES
        if onsets.reshape(SECTION_BARS, steps_per_bar).any(axis=1).sum() < 12 or onsets.sum() < 2 * SECTION_BARS:
            continue
        first = int(np.argmax(window != NO_EVENT))
        if window[first] == NOTE_OFF:  # a leading note-off belongs to the bar before
            window[first] = NO_EVENT
        found.append(window.astype(np.int16))
    return found


@torch.no_grad()
def encode_pieces(base: MelodyVAE, tokens: np.ndarray, meter: TimeSignature, pieces: int = 8) -> np.ndarray:
    """Piece means (N, pieces, latent) of 16-bar windows (N, steps), as LatentSpace.encode reads pieces."""
    steps = tokens.shape[1] // pieces
    flat = torch.from_numpy(tokens.reshape(-1, steps).astype(np.int64))
    features = torch.from_numpy(metric_features(meter, steps)).unsqueeze(0)
    means = []
    for begin in range(0, len(flat), 1024):
        chunk = flat[begin:begin + 1024]
        mean, _ = base.encode(chunk, features.expand(len(chunk), -1, -1))
        means.append(mean)
    return torch.cat(means).view(len(tokens), pieces, -1).numpy()


def prepare(run_dir: Path, base: MelodyVAE, root: Path | None = None) -> Path:
    """windows.npz in run_dir: per meter, tokens, piece means, held-out flag and source (0 melody, 1 bass)."""
    from symbolic.latent import pop909

    path = run_dir / "windows.npz"
    if path.exists():
        return path
    started = time.monotonic()
    rows: dict[str, list[tuple[np.ndarray, bool, int]]] = {}
    songs = pop909.song_dirs(root)
    for done, song_dir in enumerate(songs, start=1):
        lines = pop909.song_lines(song_dir)
        if lines is None:
            continue
        held = pop909.is_held_out(lines.song)
        for source, grid in enumerate((lines.melody, lines.bass)):
            for window in windows_of(grid, lines.time_signature):
                rows.setdefault(str(lines.time_signature), []).append((window, held, source))
        if done % 100 == 0:
            log.info("read %d/%d songs (%.0f s)", done, len(songs), time.monotonic() - started)
    arrays = {}
    for meter_text, items in rows.items():
        numerator, denominator = (int(x) for x in meter_text.split("/"))
        meter = TimeSignature(numerator, denominator)
        tokens = np.stack([w for w, _, _ in items])
        key = meter_text.replace("/", "_")
        arrays[f"tokens__{key}"] = tokens
        arrays[f"means__{key}"] = encode_pieces(base, tokens, meter).astype(np.float16)
        arrays[f"held__{key}"] = np.array([h for _, h, _ in items])
        arrays[f"source__{key}"] = np.array([s for _, _, s in items], dtype=np.int8)
        log.info("%s: %d windows encoded (%.0f s)", meter_text, len(tokens), time.monotonic() - started)
    partial = run_dir / "windows.partial.npz"
    np.savez_compressed(partial, **arrays)
    partial.replace(path)
    return path


class Windows:
    """Train or held-out windows of one meter group at a time, drawn by group size."""

    def __init__(self, path: Path, held_out: bool, seed: int) -> None:
        data = np.load(path)
        self.groups = []
        for name in data.files:
            if not name.startswith("tokens__"):
                continue
            key = name[len("tokens__"):]
            mask = data[f"held__{key}"] == held_out
            numerator, denominator = (int(x) for x in key.split("_"))
            self.groups.append((TimeSignature(numerator, denominator), data[name][mask].astype(np.int64),
                                data[f"means__{key}"][mask].astype(np.float32)))
        sizes = np.array([len(g[1]) for g in self.groups], dtype=np.float64)
        self.weights = sizes / sizes.sum()
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return sum(len(g[1]) for g in self.groups)

    def sample(self, batch: int) -> tuple[TimeSignature, np.ndarray, np.ndarray]:
        meter, tokens, means = self.groups[self.rng.choice(len(self.groups), p=self.weights)]
        rows = self.rng.integers(0, len(tokens), size=batch)
        return meter, tokens[rows], means[rows]


def kl_term(mean: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return 0.5 * (mean.pow(2) + scale.pow(2) - 1 - 2 * torch.log(scale)).sum(-1)


def token_loss(model: ConductorVAE, base: MelodyVAE, tokens: torch.Tensor, features: torch.Tensor,
               z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed cross-entropy per window and teacher-forced accuracy, piece latents through the frozen decoder."""
    pieces = model.conduct(z).reshape(-1, model.config.piece_latent_dim)
    logits = base.teacher_forced_logits(pieces, tokens, features)
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1),
                                           reduction="none").view(z.shape[0], -1).sum(1)
    return ce, (logits.argmax(-1) == tokens).float().mean()


@torch.no_grad()
def held_out(model: ConductorVAE, base: MelodyVAE, windows: Windows, limit: int = 64) -> dict[str, float]:
    """Teacher-forced and greedy (free-running) step accuracy through the frozen decoder and piece-mean
    error, z16 = posterior mean, as the served model decodes."""
    model.eval()
    correct = total = greedy = 0.0
    error = count = 0.0
    for meter, tokens, means in windows.groups:
        tokens, means = tokens[:limit], torch.from_numpy(means[:limit])
        pieces = model.config.pieces
        flat = torch.from_numpy(tokens.reshape(-1, tokens.shape[1] // pieces))
        features = torch.from_numpy(metric_features(meter, flat.shape[1])).unsqueeze(0).expand(len(flat), -1, -1)
        z, _ = model.encode(means)
        _, accuracy = token_loss(model, base, flat, features, z)
        correct += accuracy.item() * flat.numel()
        total += flat.numel()
        decoded = base.decode(model.conduct(z).reshape(-1, model.config.piece_latent_dim), features)
        greedy += (decoded == flat).float().sum().item()
        error += (model.conduct(z) - means).pow(2).mean().item() * len(tokens)
        count += len(tokens)
    model.train()
    return {"tf_acc": correct / max(total, 1), "greedy_acc": greedy / max(total, 1), "mse": error / max(count, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the 16-bar hierarchical latent model.")
    parser.add_argument("--run-dir", type=Path, default=Path("runs/latent16"))
    parser.add_argument("--base-dir", type=Path, default=BASE_DIR, help="the frozen 2-bar model")
    parser.add_argument("--pop909", type=Path, default=None)
    parser.add_argument("--phase", choices=("means", "tokens"), default="means")
    parser.add_argument("--minutes", type=float, default=8.0)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--free-bits", type=float, default=1024.0)
    parser.add_argument("--max-beta", type=float, default=0.05)
    parser.add_argument("--mse-weight", type=float, default=1.0, help="of the squared error in --phase tokens")
    parser.add_argument("--transpose", type=int, default=6)
    parser.add_argument("--latent-dim", type=int, default=HierarchicalConfig.latent_dim, help="of z16 (a new model)")
    parser.add_argument("--linear-paths", action="store_true",
                        help="a new model gets linear paths beside its LSTMs, started as whitened PCA of the "
                             "training piece means (hierarchical.ConductorVAE.init_linear_paths)")
    parser.add_argument("--initial-scale", type=float, default=0.1, help="of q(z16|x) with --linear-paths")
    parser.add_argument("--linear-lr-scale", type=float, default=0.05,
                        help="the linear paths' learning rate relative to --learning-rate: Adam moves every "
                             "weight by about the learning rate per step, and at 1e-4 the PCA start lost 5 "
                             "points of held-out greedy accuracy in 100 steps and never regained them")
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--export", type=Path, default=None,
                        help="copy <run-dir>/best to this directory (e.g. symbolic/pretrained/latent16) and stop")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        handlers=[logging.FileHandler(args.run_dir / "train.log"), logging.StreamHandler()])
    if args.export is not None:
        ConductorVAE.from_pretrained(args.run_dir / "best").save_pretrained(
            args.export, extra=__import__("json").loads((args.run_dir / "best" / "config.json").read_text()).get("training"))
        log.info("exported %s to %s", args.run_dir / "best", args.export)
        return
    base = MelodyVAE.from_pretrained(args.base_dir)
    for parameter in base.parameters():
        parameter.requires_grad_(False)
    path = prepare(args.run_dir, base, args.pop909)
    train, held = Windows(path, False, args.seed), Windows(path, True, args.seed)
    log.info("windows: %d train, %d held out", len(train), len(held))

    checkpoint_path = args.run_dir / "checkpoint.pt"
    config = HierarchicalConfig(latent_dim=args.latent_dim, piece_latent_dim=base.config.latent_dim,
                                linear_paths=args.linear_paths)
    resuming = args.resume and checkpoint_path.exists()
    if resuming:
        state = torch.load(checkpoint_path, weights_only=False)
        config = HierarchicalConfig(**state.get("config", asdict(config)))
    model = ConductorVAE(config)
    linear = [p for name, p in model.named_parameters() if name.split(".")[0] in ("encoder_linear", "conductor_linear")]
    others = [p for name, p in model.named_parameters() if name.split(".")[0] not in ("encoder_linear", "conductor_linear")]
    groups = [{"params": others, "lr_scale": 1.0}] + ([{"params": linear, "lr_scale": args.linear_lr_scale}] if linear else [])
    optimizer = torch.optim.Adam(groups, lr=args.learning_rate)
    step, best = 0, -1.0
    if not resuming and config.linear_paths:
        kept = model.init_linear_paths(np.concatenate([g[2] for g in train.groups]), args.initial_scale)
        log.info("linear paths started as PCA of the training piece means: %.4f of their variance kept", kept)
    if resuming:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        for group, scale in zip(optimizer.param_groups, (1.0, args.linear_lr_scale)):
            group["lr_scale"] = scale
        step, best = state["step"], state["best"]
        train.rng = np.random.default_rng(args.seed + step)
        log.info("resumed at step %d (best held-out greedy accuracy %.4f)", step, best)
    log.info("phase %s; model %s, %.2f M parameters", args.phase, asdict(config),
             sum(p.numel() for p in model.parameters()) / 1e6)

    def save_checkpoint() -> None:
        tmp = checkpoint_path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                    "best": best, "config": asdict(config)}, tmp)
        tmp.replace(checkpoint_path)

    def evaluate() -> None:
        nonlocal best
        figures = held_out(model, base, held)
        log.info("eval step %d: held-out teacher-forced accuracy %.4f, greedy %.4f, piece-mean mse %.4f",
                 step, figures["tf_acc"], figures["greedy_acc"], figures["mse"])
        if figures["greedy_acc"] > best:
            best = figures["greedy_acc"]
            model.save_pretrained(args.run_dir / "best", extra={
                "step": step, "phase": args.phase, "held_out_greedy_accuracy": round(best, 4),
                "held_out_teacher_forced_accuracy": round(figures["tf_acc"], 4),
                "base": "symbolic/pretrained/latent (frozen)", "data": "POP909 melody+bass 16-bar windows",
                "free_bits": args.free_bits, "max_beta": args.max_beta, "mse_weight": args.mse_weight,
                "learning_rate": args.learning_rate})

    if not resuming:
        evaluate()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    free_nats = args.free_bits * math.log(2)
    started = last_save = time.monotonic()
    running: dict[str, float] = {}
    batch = args.batch_size if args.phase == "means" else max(4, args.batch_size // 4)
    model.train()
    while time.monotonic() - started < args.minutes * 60 and not stop:
        for group in optimizer.param_groups:
            group["lr"] = group["lr_scale"] * max(1e-5, args.learning_rate * 0.9998 ** step)
        meter, tokens, means = train.sample(batch)
        if args.phase == "tokens" and args.transpose:
            tokens = latent_data.transpose(tokens, train.rng, args.transpose)
            means = encode_pieces(base, tokens, meter, config.pieces)
        means_t = torch.from_numpy(means.astype(np.float32))
        mean, scale = model.encode(means_t)
        z = mean + scale * torch.randn_like(scale)
        kl = kl_term(mean, scale)
        mse = (model.conduct(z) - means_t).pow(2).sum(dim=(1, 2))
        loss_terms = args.max_beta * torch.clamp(kl - free_nats, min=0.0)
        stats = {"kl": kl.mean().item(), "mse": mse.mean().item() / (config.pieces * config.piece_latent_dim)}
        if args.phase == "means":
            loss_terms = loss_terms + mse
        else:
            flat = torch.from_numpy(tokens.reshape(-1, tokens.shape[1] // config.pieces))
            features = torch.from_numpy(metric_features(meter, flat.shape[1])).unsqueeze(0).expand(len(flat), -1, -1)
            ce, accuracy = token_loss(model, base, flat, features, z)
            loss_terms = loss_terms + ce + args.mse_weight * mse
            stats.update(ce=ce.mean().item(), acc=accuracy.item())
        loss = loss_terms.mean()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        for key, value in stats.items():
            running[key] = 0.95 * running.get(key, value) + 0.05 * value
        if step % 25 == 0:
            log.info("step %d (%.0f s) %s", step, time.monotonic() - started,
                     " ".join(f"{k} {v:.4f}" for k, v in running.items()))
        if step % args.eval_every == 0:
            evaluate()
        if time.monotonic() - last_save > 120:
            save_checkpoint()
            last_save = time.monotonic()
    save_checkpoint()
    log.info("stopped at step %d after %.1f min; best held-out greedy accuracy %.4f", step,
             (time.monotonic() - started) / 60, best)


if __name__ == "__main__":
    main()
