"""Trains the latent model: `python -m symbolic.latent.train [--minutes 30] [--resume] [--init-from DIR]`.

`--family drums --drum-dir DIR` trains the drum model instead (512 drum classes, no transposition) on the
drum files under DIR (e.g. the Groove MIDI Dataset) plus the project's groove library (drum_data.prepare),
mixed with the weights of --mix (default gmd=0.8,library=0.2).

Data: by default the folk corpus (data.prepare) plus POP909 melody and bass lines (pop909.prepare, read
from ../shared/data/POP909 at preparation time only), drawn with the weights of --mix; `--data PATH`
(repeatable) or `--midi-dir DIR` trains on other prepared sets instead. `--init-from DIR` starts from a
trained model directory (e.g. the shipped one) instead of random weights.

Loss as in MusicVAE: the summed per-step cross-entropy plus beta * max(KL - free_nats, 0), with beta
annealed towards max_beta. Checkpoints (model, optimiser, step, RNG) go to <run-dir>/checkpoint.pt every
few minutes, and the best model by held-out teacher-forced accuracy is written in the shipped layout
(config.json + model.safetensors) to <run-dir>/best/. The server never imports this module.
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from symbolic.latent import data as latent_data
from symbolic.latent.model import LatentConfig, MelodyVAE
from symbolic.latent.drum_representation import NUM_DRUM_CLASSES
from symbolic.latent.representation import NUM_CLASSES, metric_features

log = logging.getLogger("symbolic.latent.train")


@dataclass
class TrainConfig:
    batch_size: int = 64
    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-5
    decay_rate: float = 0.9999
    max_beta: float = 0.2
    beta_rate: float = 0.999
    free_bits: float = 48.0
    grad_clip: float = 1.0
    transpose: int = 6
    eval_windows: int = 512


class Batches:
    """Draws batches from one (meter, bars) group at a time. Groups are weighted by their size within
    their source, and sources by source_weights (all equal when not given)."""

    def __init__(self, sets: list[latent_data.WindowSet], seed: int,
                 source_weights: list[float] | None = None, sources: list[int] | None = None) -> None:
        self.sets = sets
        sizes = np.array([len(s.tokens) for s in sets], dtype=np.float64)
        sources_array = np.zeros(len(sets), dtype=int) if sources is None else np.array(sources)
        weights = np.zeros(len(sets))
        for source in np.unique(sources_array):
            mask = sources_array == source
            share = 1.0 if source_weights is None else source_weights[source]
            weights[mask] = share * sizes[mask] / sizes[mask].sum()
        self.weights = weights / weights.sum()
        self.features = [metric_features(s.time_signature, s.tokens.shape[1]) for s in sets]
        self.rng = np.random.default_rng(seed)

    def sample(self, batch_size: int, transpose: int) -> tuple[torch.Tensor, torch.Tensor]:
        index = self.rng.choice(len(self.sets), p=self.weights)
        group = self.sets[index]
        rows = self.rng.integers(0, len(group.tokens), size=batch_size)
        tokens = group.tokens[rows]
        if transpose:
            tokens = latent_data.transpose(tokens, self.rng, transpose)
        features = torch.from_numpy(self.features[index]).unsqueeze(0).expand(batch_size, -1, -1)
        return torch.from_numpy(tokens.astype(np.int64)), features


def vae_loss(model: MelodyVAE, tokens: torch.Tensor, features: torch.Tensor, beta: float,
             free_nats: float) -> tuple[torch.Tensor, dict[str, float]]:
    mean, scale = model.encode(tokens, features)
    z = mean + scale * torch.randn_like(scale)
    logits = model.teacher_forced_logits(z, tokens, features)
    reconstruction = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1), reduction="none").view(tokens.shape).sum(1)
    kl = 0.5 * (mean.pow(2) + scale.pow(2) - 1 - 2 * torch.log(scale)).sum(-1)
    kl_cost = torch.clamp(kl - free_nats, min=0.0)
    loss = (reconstruction + beta * kl_cost).mean()
    accuracy = (logits.argmax(-1) == tokens).float().mean()
    return loss, {"loss": loss.item(), "recon": reconstruction.mean().item(), "kl": kl.mean().item(),
                  "acc": accuracy.item()}


@torch.no_grad()
def held_out_accuracy(model: MelodyVAE, sets: list[latent_data.WindowSet], limit: int) -> dict[str, float]:
    """Teacher-forced per-step accuracy from z = mean on (up to) limit held-out windows."""
    model.eval()
    correct = total = 0
    kl_sum = 0.0
    count = 0
    per_group = max(1, limit // max(len(sets), 1))
    for group in sets:
        tokens = torch.from_numpy(group.tokens[:per_group].astype(np.int64))
        features = torch.from_numpy(metric_features(group.time_signature, tokens.shape[1]))
        features = features.unsqueeze(0).expand(tokens.shape[0], -1, -1)
        mean, scale = model.encode(tokens, features)
        logits = model.teacher_forced_logits(mean, tokens, features)
        correct += (logits.argmax(-1) == tokens).sum().item()
        total += tokens.numel()
        kl_sum += (0.5 * (mean.pow(2) + scale.pow(2) - 1 - 2 * torch.log(scale)).sum(-1)).sum().item()
        count += tokens.shape[0]
    model.train()
    return {"tf_acc": correct / max(total, 1), "kl": kl_sum / max(count, 1)}


_RESUMED_SETTINGS = ("batch_size", "max_beta", "free_bits", "learning_rate")


def _train_config(args: argparse.Namespace, state: dict | None, drums: bool) -> TrainConfig:
    """The run's training settings: what the command line gives; on --resume, the run's own saved
    settings for what it does not give (a resume without --free-bits once trained on at the default 48
    bits, not the run's 256, and overwrote the run's checkpoint); otherwise TrainConfig's defaults."""
    saved = (state or {}).get("train_config")
    if state is not None and saved is None:
        missing = [name for name in _RESUMED_SETTINGS if getattr(args, name) is None]
        if missing:
            raise SystemExit(
                "this checkpoint predates saved training settings: give the run's own "
                + ", ".join("--" + name.replace("_", "-") for name in missing) + " to resume it")
    values = {}
    for name in _RESUMED_SETTINGS:
        given = getattr(args, name)
        if given is not None:
            if saved is not None and saved.get(name) != given:
                log.info("--%s %s replaces the run's %s", name.replace("_", "-"), given, saved.get(name))
            values[name] = given
        else:
            values[name] = saved[name] if saved is not None else getattr(TrainConfig, name)
    return TrainConfig(**values, transpose=0 if drums else TrainConfig.transpose)


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the MusicVAE-style latent melody model.")
    parser.add_argument("--family", choices=("melody", "drums"), default="melody",
                        help="melody: the 130-class line model; drums: the 512-class drum model (needs --drum-dir)")
    parser.add_argument("--drum-dir", type=Path, default=None, help="a folder of drum MIDI files (--family drums)")
    parser.add_argument("--run-dir", type=Path, default=None, help="default runs/latent or runs/latent_drums")
    parser.add_argument("--data", type=Path, action="append", default=None,
                        help="prepared .npz (repeatable; default: folk + POP909 lines, prepared and cached)")
    parser.add_argument("--mix", type=str, default=None,
                        help="sampling weights of the default sources (default folk=0.3,melody=0.4,bass=0.3; "
                             "drums: gmd=0.8,library=0.2)")
    parser.add_argument("--bars", type=str, default="",
                        help="window lengths to train on, e.g. 2 (LatentSpace reads 2-bar pieces); default all")
    parser.add_argument("--init-from", type=Path, default=None,
                        help="start from this trained model directory (config.json + model.safetensors)")
    parser.add_argument("--pop909", type=Path, default=None, help="POP909 folder (default ../shared/data/POP909)")
    parser.add_argument("--midi-dir", type=Path, default=None,
                        help="train on the melodies of your own MIDI files (prepared and cached first)")
    parser.add_argument("--minutes", type=float, default=55.0, help="wall-clock budget of this run")
    parser.add_argument("--max-steps", type=int, default=10**9)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--checkpoint-minutes", type=float, default=4.0)
    parser.add_argument("--eval-every", type=int, default=200)
    parser.add_argument("--decoder-hidden", type=int, default=LatentConfig.decoder_hidden)
    parser.add_argument("--encoder-hidden", type=int, default=LatentConfig.encoder_hidden)
    parser.add_argument("--latent-dim", type=int, default=LatentConfig.latent_dim)
    parser.add_argument("--batch-size", type=int, default=None,
                        help=f"default {TrainConfig.batch_size}, or the run's own setting with --resume")
    parser.add_argument("--max-beta", type=float, default=None,
                        help=f"default {TrainConfig.max_beta}, or the run's own setting with --resume")
    parser.add_argument("--free-bits", type=float, default=None,
                        help=f"default {TrainConfig.free_bits}, or the run's own setting with --resume")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help=f"default {TrainConfig.learning_rate}, or the run's own setting with --resume")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    drums = args.family == "drums"
    if drums and args.drum_dir is None and not args.data:
        parser.error("--family drums needs --drum-dir DIR (a folder of drum MIDI files) or --data")
    args.run_dir = args.run_dir or Path("runs/latent_drums" if drums else "runs/latent")
    args.mix = args.mix or ("gmd=0.8,library=0.2" if drums else "folk=0.3,melody=0.4,bass=0.3")
    args.run_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        handlers=[logging.FileHandler(args.run_dir / "train.log"), logging.StreamHandler()])
    train_sets, held_sets, train_sources, weights, names = [], [], [], [], []
    if drums and not args.data:
        from symbolic.latent import drum_data

        mix = {k.strip(): float(v) for k, v in (item.split("=") for item in args.mix.split(","))}
        path = drum_data.prepare(args.drum_dir)
        for index, name in enumerate(("gmd", "library")):
            loaded = latent_data.load(path, held_out=False, kind=f"#{name}")
            train_sets += loaded
            train_sources += [index] * len(loaded)
            held_sets += latent_data.load(path, held_out=True, kind=f"#{name}")
            weights.append(mix.get(name, 0.0))
            names.append(name)
    elif args.data or args.midi_dir:
        paths = args.data or [latent_data.prepare(midi_dir=args.midi_dir)]
        for index, path in enumerate(paths):
            loaded = latent_data.load(path, held_out=False)
            train_sets += loaded
            train_sources += [index] * len(loaded)
            held_sets += latent_data.load(path, held_out=True)
            weights.append(1.0)
            names.append(path.name)
    else:
        from symbolic.latent import pop909

        mix = {k.strip(): float(v) for k, v in (item.split("=") for item in args.mix.split(","))}
        folk_path = latent_data.prepare()
        pop_path = pop909.prepare(latent_data.default_cache_dir(), root=args.pop909)
        sources = [("folk", folk_path, None), ("melody", pop_path, "/melody"), ("bass", pop_path, "/bass")]
        for index, (name, path, kind) in enumerate(sources):
            loaded = latent_data.load(path, held_out=False, kind=kind)
            train_sets += loaded
            train_sources += [index] * len(loaded)
            held_sets += latent_data.load(path, held_out=True, kind=kind)
            weights.append(mix.get(name, 0.0))
            names.append(name)
    if args.bars:
        wanted = {int(b) for b in args.bars.split(",")}
        kept = [i for i, s in enumerate(train_sets) if s.num_bars in wanted]
        train_sets, train_sources = [train_sets[i] for i in kept], [train_sources[i] for i in kept]
        held_sets = [s for s in held_sets if s.num_bars in wanted]
    log.info("data %s (weights %s): %d train windows, %d held-out windows", names, weights,
             sum(len(s.tokens) for s in train_sets), sum(len(s.tokens) for s in held_sets))
    data_path = Path("+".join(names))

    checkpoint_path = args.run_dir / "checkpoint.pt"
    state = torch.load(checkpoint_path, weights_only=False) if args.resume and checkpoint_path.exists() else None
    train_config = _train_config(args, state, drums)
    torch.manual_seed(args.seed)
    if state is not None:
        model = MelodyVAE(LatentConfig(**state["model_config"]))
        model.load_state_dict(state["model"])
        optimizer = torch.optim.Adam(model.parameters(), lr=train_config.learning_rate)
        optimizer.load_state_dict(state["optimizer"])
        step, best = state["step"], state["best"]
        batches = Batches(train_sets, args.seed + step, weights, train_sources)
        torch.set_rng_state(state["torch_rng"])
        log.info("resumed from step %d (best held-out accuracy %.4f)", step, best)
    else:
        if args.init_from is not None:
            model = MelodyVAE.from_pretrained(args.init_from)
            model.train()
            log.info("starting from the weights in %s", args.init_from)
        else:
            model = MelodyVAE(LatentConfig(latent_dim=args.latent_dim, encoder_hidden=args.encoder_hidden,
                                           decoder_hidden=args.decoder_hidden,
                                           num_classes=NUM_DRUM_CLASSES if drums else NUM_CLASSES))
        optimizer = torch.optim.Adam(model.parameters(), lr=train_config.learning_rate)
        step, best = 0, -1.0
        batches = Batches(train_sets, args.seed, weights, train_sources)
    log.info("model %s, %.2f M parameters; train %s", asdict(model.config),
             sum(p.numel() for p in model.parameters()) / 1e6, asdict(train_config))

    def save_checkpoint() -> None:
        tmp = checkpoint_path.with_suffix(".tmp")
        torch.save({"model_config": asdict(model.config), "train_config": asdict(train_config),
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "best": best,
                    "torch_rng": torch.get_rng_state()}, tmp)
        tmp.replace(checkpoint_path)

    stop_requested = []
    signal.signal(signal.SIGTERM, lambda *_: stop_requested.append(True))  # stop after this step, saved
    free_nats = train_config.free_bits * math.log(2)
    started = last_checkpoint = time.monotonic()
    running: dict[str, float] = {}
    model.train()
    while step < args.max_steps and time.monotonic() - started < args.minutes * 60 and not stop_requested:
        learning_rate = max(train_config.min_learning_rate, train_config.learning_rate * train_config.decay_rate ** step)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate
        beta = train_config.max_beta * (1 - train_config.beta_rate ** step)
        tokens, features = batches.sample(train_config.batch_size, train_config.transpose)
        loss, stats = vae_loss(model, tokens, features, beta, free_nats)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train_config.grad_clip)
        optimizer.step()
        step += 1
        for key, value in stats.items():
            running[key] = 0.98 * running.get(key, value) + 0.02 * value
        if step % 25 == 0:
            elapsed = time.monotonic() - started
            log.info("step %d  %.1f steps/s  lr %.2e beta %.3f  loss %.2f recon %.2f kl %.1f acc %.3f",
                     step, 25 / max(elapsed - running.get("_t", 0.0), 1e-9), learning_rate, beta,
                     running["loss"], running["recon"], running["kl"], running["acc"])
            running["_t"] = elapsed
        if step % args.eval_every == 0:
            figures = held_out_accuracy(model, held_sets, train_config.eval_windows)
            log.info("eval step %d: held-out teacher-forced accuracy %.4f, KL %.1f nats",
                     step, figures["tf_acc"], figures["kl"])
            if figures["tf_acc"] > best:
                best = figures["tf_acc"]
                model.save_pretrained(args.run_dir / "best", extra={
                    "step": step, "held_out_teacher_forced_accuracy": round(best, 4),
                    "data": str(data_path.name), **asdict(train_config)})
                log.info("new best written to %s", args.run_dir / "best")
        if time.monotonic() - last_checkpoint > args.checkpoint_minutes * 60:
            save_checkpoint()
            last_checkpoint = time.monotonic()
            log.info("checkpoint at step %d", step)
    save_checkpoint()
    log.info("stopped at step %d after %.1f min; best held-out accuracy %.4f",
             step, (time.monotonic() - started) / 60, best)


if __name__ == "__main__":
    main()
