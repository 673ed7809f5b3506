"""Trains the attribute-conditioned generator. The server never imports this module.

    python -m symbolic.train --run runs/symbolic/default [--resume] [--minutes 90]
    python -m symbolic.train --run runs/symbolic/mine --data ~/my_midi_folder [--init symbolic/pretrained/default]

Checkpoints (model + optimiser + step) go to RUN/checkpoint.pt every few minutes, and a loadable
model directory (config.json, model.safetensors, tokenizer.json) to RUN/export/.
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from symbolic.attributes import STYLES
from symbolic.data.build import Example, tokenize_piece
from symbolic.data.sampling import sample_sequence
from symbolic.model import MusicTransformer, TransformerConfig
from symbolic.remi import save_vocabulary
from symbolic.tokenizer import TOKENIZER_FILE, Vocabulary, build_tokenizer, load_tokenizer


def examples_from_midi_folder(folder: Path, tokenizer, vocab: Vocabulary) -> list[Example]:
    """Tokenizes a user's MIDI files (one meter each; the first tempo and time signature are used)."""
    from symbolic.data.augment import AugmentedPiece
    from symbolic.midi_io import midi_to_clip
    from symbolic.attributes import bar_quarters

    examples = []
    for path in sorted(folder.rglob("*.mid")) + sorted(folder.rglob("*.midi")):
        try:
            clip = midi_to_clip(path.read_bytes())
        except Exception as error:  # noqa: BLE001 - report and skip unreadable files
            print(f"skipping {path}: {error}")
            continue
        if tuple(clip.time_signature) not in vocab.time_signature or len(clip.table) == 0:
            print(f"skipping {path}: time signature {clip.time_signature} or no notes")
            continue
        bar_q = bar_quarters(clip.time_signature)
        bars = int(math.ceil(float((clip.table.onset_q + clip.table.duration_q).max()) / bar_q - 1e-6))
        piece = AugmentedPiece(clip.table, clip.time_signature, clip.tempo_bpm, bars, "folk", "user")
        example = tokenize_piece(tokenizer, vocab, piece)
        if example is not None:
            examples.append(example)
    return examples


def make_batch(examples, vocab, shift_tables, max_len, batch_size, rng) -> torch.Tensor:
    sequences = []
    while len(sequences) < batch_size:
        sequence = sample_sequence(rng.choice(examples), vocab, shift_tables, max_len, rng)
        if sequence is not None:
            sequences.append(sequence[:max_len])
    longest = max(len(s) for s in sequences)
    batch = torch.full((batch_size, longest), vocab.pad, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        batch[row, : len(sequence)] = torch.tensor(sequence)
    return batch


def loss_of(model, batch, pad: int) -> torch.Tensor:
    logits = model(batch[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), ignore_index=pad)


def style_time_signature_pairs(examples) -> dict[str, list[list[int]]]:
    pairs: dict[str, set] = {}
    for example in examples:
        pairs.setdefault(example.style, set()).add(tuple(example.time_signature))
    return {style: sorted(list(ts) for ts in found) for style, found in pairs.items()}


def export(model, tokenizer, directory: Path, meta: dict) -> None:
    model.save_pretrained(directory, extra={"meta": meta})
    tokenizer.save(directory / TOKENIZER_FILE)
    save_vocabulary(tokenizer, directory)  # serving reads the token names from it, without miditok


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="run directory (checkpoints, export)")
    parser.add_argument("--dataset", type=Path, default=Path(".cache/symbolic/dataset.pkl"))
    parser.add_argument("--data", type=Path, help="train on a folder of your own MIDI files instead")
    parser.add_argument("--init", type=Path, help="start from this pretrained model directory")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--minutes", type=float, default=90.0, help="stop after this much training time")
    parser.add_argument("--steps", type=int, default=8000, help="schedule length (cosine decay)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-len", type=int, default=512)
    parser.add_argument("--lr", type=float, default=1.5e-3)
    parser.add_argument("--d-model", type=int, default=192)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--d-ff", type=int, default=768)
    parser.add_argument("--checkpoint-every-s", type=float, default=300.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    args.run.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer(args.init) if args.init else build_tokenizer()
    vocab = Vocabulary.of(tokenizer)
    if args.data:
        train = examples_from_midi_folder(args.data, tokenizer, vocab)
        rng.shuffle(train)
        valid = train[: max(1, len(train) // 20)]
        train = train[len(valid):] or valid
    else:
        with args.dataset.open("rb") as handle:
            splits = pickle.load(handle)
        train, valid = splits["train"], splits["valid"]
    print(f"{len(train)} training examples, {len(valid)} validation examples", flush=True)
    shift_tables = {s: vocab.pitch_shift_table(s) for s in range(-6, 7)}

    checkpoint_path = args.run / "checkpoint.pt"
    if args.init:
        model = MusicTransformer.from_pretrained(args.init)
    else:
        model = MusicTransformer(TransformerConfig(
            vocab_size=vocab.size, d_model=args.d_model, n_layers=args.layers, n_heads=args.heads,
            d_ff=args.d_ff, max_seq_len=args.max_len))
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    step = 0
    best_valid = float("inf")
    if args.resume and checkpoint_path.exists():
        state = torch.load(checkpoint_path, weights_only=False)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        step, best_valid = state["step"], state.get("best_valid", best_valid)
        rng.setstate(state["rng"])
        print(f"resumed at step {step}", flush=True)
    print(f"model: {model.num_parameters() / 1e6:.2f} M parameters", flush=True)

    valid_rng = random.Random(1234)
    valid_batches = [make_batch(valid, vocab, shift_tables, args.max_len, args.batch_size, valid_rng) for _ in range(6)]
    meta = {
        "style_time_signatures": style_time_signature_pairs(train),
        "styles": list(STYLES),
        "trained_on": str(args.data) if args.data else "music21 corpus (Bach chorales; O'Neill, Ryan, Aird ABC) + generated drums",
    }

    def evaluate_valid() -> float:
        model.eval()
        with torch.no_grad():
            losses = [loss_of(model, batch, vocab.pad).item() for batch in valid_batches]
        model.train()
        return float(np.mean(losses))

    def save(valid_loss: float) -> None:
        nonlocal best_valid
        torch.save({"model": model.state_dict(), "optimiser": optimiser.state_dict(), "step": step,
                    "best_valid": min(best_valid, valid_loss), "rng": rng.getstate(), "args": vars(args)},
                   checkpoint_path)
        if valid_loss <= best_valid:
            best_valid = valid_loss
            export(model, tokenizer, args.run / "export", {**meta, "step": step, "valid_loss": valid_loss})
        with (args.run / "log.jsonl").open("a") as handle:
            handle.write(json.dumps({"step": step, "valid_loss": valid_loss, "time": time.time()}) + "\n")

    model.train()
    started = time.monotonic()
    last_save = started
    progress = tqdm(total=args.steps, initial=step, desc="train", mininterval=30)
    running = None
    while step < args.steps and time.monotonic() - started < args.minutes * 60:
        warmup = 300
        lr = args.lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / args.steps))))
        for group in optimiser.param_groups:
            group["lr"] = lr
        batch = make_batch(train, vocab, shift_tables, args.max_len, args.batch_size, rng)
        loss = loss_of(model, batch, vocab.pad)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        step += 1
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        progress.update(1)
        progress.set_postfix(loss=f"{running:.3f}", lr=f"{lr:.2e}")
        if time.monotonic() - last_save > args.checkpoint_every_s:
            valid_loss = evaluate_valid()
            print(f"\nstep {step} train {running:.3f} valid {valid_loss:.3f} ({time.monotonic() - started:.0f} s)", flush=True)
            save(valid_loss)
            last_save = time.monotonic()
    valid_loss = evaluate_valid()
    print(f"\nfinished at step {step}: valid {valid_loss:.3f}", flush=True)
    save(valid_loss)


if __name__ == "__main__":
    main()
