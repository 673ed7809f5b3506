"""Augments and tokenizes parsed pieces into per-bar token arrays (the training set)."""

from __future__ import annotations

import pickle
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from symbolic.attributes import NoteTable
from symbolic.data.augment import AugmentedPiece, augment
from symbolic.midi_io import score_to_clip, table_to_score
from symbolic.tokenizer import Vocabulary, build_tokenizer


@dataclass
class Example:
    """A tokenized piece. `tokens[bar_starts[i]:bar_starts[i+1]]` is bar i (Bar TimeSig ... ).

    `table` is the piece as the tokenizer decodes it, so attributes measured on it match what the
    evaluation measures on generated output.
    """

    tokens: np.ndarray  # int16
    bar_starts: np.ndarray  # int32, len bars + 1
    table: NoteTable
    time_signature: tuple[int, int]
    tempo_bpm: float
    style: str
    collection: str

    @property
    def bars(self) -> int:
        return len(self.bar_starts) - 1


def tokenize_piece(tokenizer, vocab: Vocabulary, piece: AugmentedPiece) -> Example | None:
    score = table_to_score(piece.table, piece.time_signature, piece.tempo_bpm)
    ids = tokenizer.encode(score).ids
    if not ids:
        return None
    decoded = score_to_clip(tokenizer.decode(ids))
    ids = np.array(ids, dtype=np.int16)
    starts = list(np.nonzero(ids == vocab.bar)[0])
    if not starts or starts[0] != 0:
        return None
    starts = starts[: piece.bars]
    bar_tokens = [ids[a:b] for a, b in zip(starts, starts[1:] + [len(ids)])]
    empty_bar = np.array([vocab.bar, vocab.time_signature[piece.time_signature]], dtype=np.int16)
    while len(bar_tokens) < piece.bars:
        bar_tokens.append(empty_bar)
    lengths = [len(b) for b in bar_tokens]
    bar_starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    table = decoded.table
    bar_q = piece.time_signature[0] * 4.0 / piece.time_signature[1]
    table = table.select(table.onset_q < piece.bars * bar_q - 1e-6)
    return Example(np.concatenate(bar_tokens).astype(np.int16), bar_starts, table, piece.time_signature,
                   piece.tempo_bpm, piece.style, piece.collection)


def build_dataset(pieces: list, out_path: Path, versions_per_tune: int = 3, versions_per_chorale: int = 6,
                  seed: int = 0) -> None:
    """Writes {'train': [...], 'valid': [...]} Examples; validation holds out whole pieces."""
    tokenizer = build_tokenizer()
    vocab = Vocabulary.of(tokenizer)
    rng = random.Random(seed)
    order = list(range(len(pieces)))
    rng.shuffle(order)
    valid_ids = set(order[: max(20, len(order) // 50)])
    splits: dict[str, list[Example]] = {"train": [], "valid": []}
    started = time.monotonic()
    skipped = 0
    for index in tqdm(range(len(pieces)), desc="augment+tokenize", mininterval=5):
        piece = pieces[index]
        if tuple(piece.time_signature) not in vocab.time_signature:
            skipped += 1
            continue
        versions = versions_per_chorale if piece.collection == "bach" else versions_per_tune
        for version in range(versions):
            example = tokenize_piece(tokenizer, vocab, augment(piece, version, seed=seed * 7919 + index * 31 + version))
            if example is None:
                skipped += 1
                continue
            splits["valid" if index in valid_ids else "train"].append(example)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("wb") as handle:
        pickle.dump(splits, handle)
    tokens = sum(len(e.tokens) for e in splits["train"])
    print(f"{len(splits['train'])} train / {len(splits['valid'])} valid examples, {tokens} train tokens, "
          f"{skipped} skipped, {time.monotonic() - started:.0f} s -> {out_path}")
