"""Note tables <-> per-bar REMI token lists (through miditok)."""

from __future__ import annotations

import numpy as np

from symbolic.attributes import NoteTable, bar_quarters
from symbolic.midi_io import score_to_clip, table_to_score
from symbolic.tokenizer import Vocabulary


def encode_bars(tokenizer, vocab: Vocabulary, table: NoteTable, time_signature: tuple[int, int],
                tempo_bpm: float, bars: int) -> list[list[int]]:
    """Exactly `bars` token lists, each starting with Bar TimeSig (empty bars included)."""
    empty = [vocab.bar, vocab.time_signature[tuple(time_signature)]]
    if len(table) == 0:
        return [list(empty) for _ in range(bars)]
    ids = list(tokenizer.encode(table_to_score(table, time_signature, tempo_bpm)).ids)
    starts = [i for i, token in enumerate(ids) if token == vocab.bar]
    pieces = [ids[a:b] for a, b in zip(starts, starts[1:] + [len(ids)])][:bars]
    while len(pieces) < bars:
        pieces.append(list(empty))
    return pieces


def decode_bars(tokenizer, bars_tokens: list[list[int]], time_signature: tuple[int, int]) -> NoteTable:
    """Notes of the given bars (times from the first bar's start), cut at the last bar's end."""
    flat = [token for bar in bars_tokens for token in bar]
    if not flat:
        return NoteTable.empty()
    table = score_to_clip(tokenizer.decode(flat)).table
    end_q = len(bars_tokens) * bar_quarters(time_signature)
    table = table.select(table.onset_q < end_q - 1e-6)
    if len(table):  # the model may repeat a note at the same position: keep one
        key = np.round(table.onset_q * 48).astype(np.int64) * 1_000_000 + table.program * 1000 + table.pitch
        _, first = np.unique(key, return_index=True)
        table = table.select(np.sort(first))
    table.duration_q = np.minimum(table.duration_q, end_q - table.onset_q)
    return table
