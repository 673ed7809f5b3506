"""miditok REMI with our condition tokens: save/load keeps ids; bars encode and decode back."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from symbolic.attributes import DRUM_PROGRAM, NoteTable
from symbolic.codec import decode_bars, encode_bars
from symbolic.tokenizer import TOKENIZER_FILE, Vocabulary, build_tokenizer, load_tokenizer
from tests.symbolic.helpers import scale_tune


def test_condition_tokens_survive_save_and_load(tmp_path: Path) -> None:
    tokenizer = build_tokenizer()
    tokenizer.save(tmp_path / TOKENIZER_FILE)
    loaded = load_tokenizer(tmp_path)
    assert loaded.vocab == tokenizer.vocab
    vocab = Vocabulary.of(loaded)
    assert len(vocab.key) == 84 and (2, "dorian") in vocab.key
    assert (6, 8) in vocab.time_signature and DRUM_PROGRAM in vocab.program


def test_bars_round_trip_with_drums_in_six_eight() -> None:
    tokenizer = build_tokenizer()
    vocab = Vocabulary.of(tokenizer)
    melody = scale_tune(62, bars=3, notes_per_bar=6)
    melody = NoteTable(melody.onset_q * 0.75, melody.duration_q * 0.75, melody.pitch, melody.program)  # eighths
    kick = NoteTable(np.arange(3) * 3.0, np.full(3, 0.25), np.full(3, 36), np.full(3, DRUM_PROGRAM))
    table = NoteTable(np.concatenate([melody.onset_q, kick.onset_q]), np.concatenate([melody.duration_q, kick.duration_q]),
                      np.concatenate([melody.pitch, kick.pitch]), np.concatenate([melody.program, kick.program]))
    bars = encode_bars(tokenizer, vocab, table, (6, 8), 150.0, bars=5)
    assert len(bars) == 5 and all(bar[:2] == [vocab.bar, vocab.time_signature[(6, 8)]] for bar in bars)
    assert bars[3] == bars[4] == [vocab.bar, vocab.time_signature[(6, 8)]]  # trailing empty bars are kept
    decoded = decode_bars(tokenizer, bars, (6, 8))
    assert sorted(decoded.pitch.tolist()) == sorted(table.pitch.tolist())
    assert np.allclose(np.sort(decoded.onset_q), np.sort(table.onset_q))
