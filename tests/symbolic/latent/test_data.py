"""Training windows: cutting, transposition, and preparing a folder of the user's own MIDI files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from symbolic.latent.data import grid_windows, load, prepare, transpose
from symbolic.latent.representation import NO_EVENT, NOTE_OFF, NUM_PITCHES, TimeSignature, notes_to_grid
from tests.symbolic.latent.clips import jig, melody_midi, scale_run


def test_windows_are_two_and_four_bars_with_a_note_in_every_bar() -> None:
    grid = notes_to_grid([(60 + i % 5, 4 * i, 4 * i + 4) for i in range(24)] + [(70, 112, 128)], 128)  # 8 bars
    windows = grid_windows(grid, TimeSignature(4, 4))
    by_bars = {bars: [w for m, b, w in windows if b == bars] for bars in (2, 4)}
    assert all(w.shape == (32,) for w in by_bars[2]) and all(w.shape == (64,) for w in by_bars[4])
    # bar 7 (steps 96-111) is silent: no window may contain it
    assert len(by_bars[2]) == 5 and len(by_bars[4]) == 2
    assert all(w[0] != NOTE_OFF for _, _, w in windows)


def test_transposition_moves_only_pitches_and_stays_in_range() -> None:
    tokens = np.stack([notes_to_grid([(104, 0, 4), (106, 4, 8), (60, 10, 12)], 16)] * 50)
    moved = transpose(tokens, np.random.default_rng(0))
    pitch = tokens < NUM_PITCHES
    assert ((moved < NUM_PITCHES) == pitch).all() and (moved[~pitch] == tokens[~pitch]).all()
    assert moved[pitch].max() <= 108 and len({int(row[0]) for row in moved}) > 3
    bass = np.stack([notes_to_grid([(28, 0, 4), (33, 4, 8)], 16)] * 50)
    moved_bass = transpose(bass, np.random.default_rng(1))
    assert 21 <= moved_bass[bass < NUM_PITCHES].min() and moved_bass[bass < NUM_PITCHES].max() <= 40
    assert (moved[:, 1] == NO_EVENT).all()


def test_a_folder_of_midi_files_becomes_a_data_set(tmp_path: Path) -> None:
    folder = tmp_path / "my_midi"
    folder.mkdir()
    (folder / "scale.mid").write_bytes(melody_midi(scale_run(bars=6)))
    (folder / "jig.MID").write_bytes(melody_midi(jig(bars=4), time_signature=(6, 8)))
    (folder / "broken.mid").write_bytes(b"not midi")
    path = prepare(tmp_path / "cache", workers=1, midi_dir=folder)
    sets = load(path, held_out=False) + load(path, held_out=True)
    counts = {(str(s.time_signature), s.num_bars): len(s.tokens) for s in sets}
    assert counts == {("4/4", 2): 5, ("4/4", 4): 2, ("6/8", 2): 3, ("6/8", 4): 1}
