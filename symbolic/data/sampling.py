"""Training sequences: a random bar segment of an example, transposed, with its measured prefix."""

from __future__ import annotations

import random

import numpy as np

from symbolic.attributes import DRUM_PROGRAM, NoteTable, bar_quarters, extract
from symbolic.conditioning import Levels, full_prefix, levels_of
from symbolic.data.build import Example
from symbolic.tokenizer import Vocabulary

PREFIX_MAX = 16


def segment_table(example: Example, start_bar: int, bars: int, semitones: int) -> NoteTable:
    bar_q = bar_quarters(example.time_signature)
    table = example.table
    mask = (table.onset_q >= start_bar * bar_q - 1e-6) & (table.onset_q < (start_bar + bars) * bar_q - 1e-6)
    segment = table.select(mask)
    pitch = segment.pitch.copy()
    pitched = segment.program != DRUM_PROGRAM
    pitch[pitched] += semitones
    end_q = (start_bar + bars) * bar_q
    duration = np.minimum(segment.duration_q, end_q - segment.onset_q)
    return NoteTable(segment.onset_q - start_bar * bar_q, duration, pitch, segment.program, segment.velocity)


def segment_levels(example: Example, start_bar: int, bars: int, semitones: int) -> Levels:
    table = segment_table(example, start_bar, bars, semitones)
    attributes = extract(table, example.time_signature, example.tempo_bpm, bars=bars, style=example.style)
    return levels_of(attributes)


def sample_sequence(example: Example, vocab: Vocabulary, shift_tables: dict[int, np.ndarray],
                    max_len: int, rng: random.Random, max_bars: int = 24) -> list[int] | None:
    """One training sequence (prefix + bars + EOS) or None if this example gives none that fits."""
    bars_total = example.bars
    lengths = np.diff(example.bar_starts)
    budget = max_len - PREFIX_MAX - 1
    for _ in range(4):
        wanted = rng.randint(1, min(max_bars, bars_total))
        if rng.random() < 0.3:
            wanted = min(bars_total, rng.choice((4, 8, 8, 16)))
        start = rng.randint(0, bars_total - wanted)
        total = int(lengths[start:start + wanted].sum())
        while wanted > 1 and total > budget:
            wanted -= 1
            total = int(lengths[start:start + wanted].sum())
        if total > budget:
            continue
        body = example.tokens[example.bar_starts[start]:example.bar_starts[start + wanted]].astype(np.int64)
        pitched_table = example.table.pitch[example.table.program != DRUM_PROGRAM]
        semitones = 0
        for _ in range(4):
            candidate = rng.randint(-5, 6)
            if len(pitched_table) == 0 or (pitched_table.min() + candidate >= 21 and pitched_table.max() + candidate <= 108):
                semitones = candidate
                break
        if semitones:
            body = shift_tables[semitones][body]
            if (body < 0).any():
                body = example.tokens[example.bar_starts[start]:example.bar_starts[start + wanted]].astype(np.int64)
                semitones = 0
        levels = segment_levels(example, start, wanted, semitones)
        if not levels.programs or levels.key is None or levels.range is None:
            continue  # e.g. a drums-only stretch: no key or range to condition on
        prefix = full_prefix(vocab, levels)
        return prefix + body.tolist() + [vocab.eos]
    return None
