"""The generator with the shipped checkpoint: hard attributes hold exactly, key is steered, continue
and infill keep what they must, and bad requests fail with errors a musician can act on."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from ostinato.errors import InvalidInput, LimitExceeded
from symbolic.attributes import DRUM_PROGRAM, Attributes, Key, bar_quarters, key_membership
from symbolic.composer import Composer
from symbolic.decoding import Sampling
from symbolic.midi_io import midi_to_clip, table_to_midi
from tests.symbolic.helpers import scale_tune

SHIPPED = Path(__file__).resolve().parents[2] / "symbolic" / "pretrained" / "default"


@pytest.fixture(scope="module")
def composer() -> Composer:
    return Composer.from_pretrained(SHIPPED)


def _bars_in_file(midi: bytes) -> tuple[int, tuple[int, int], float, list[int]]:
    clip = midi_to_clip(midi)
    programs = sorted({int(p) for p in clip.table.program}, key=lambda p: (p == DRUM_PROGRAM, p))
    return clip.bars, clip.time_signature, clip.tempo_bpm, programs


def test_hard_attributes_hold_in_the_midi_file(composer: Composer) -> None:
    request = Attributes(instruments=[40, 32, DRUM_PROGRAM], key=Key(2, "major"), time_signature=(6, 8),
                         tempo_bpm=168.0, bars=6)
    result = composer.generate(request, Sampling(seed=1))
    bars, time_signature, tempo_bpm, programs = _bars_in_file(result.midi)
    assert bars == 6
    assert time_signature == (6, 8)
    assert tempo_bpm == pytest.approx(168.0)
    assert programs == [32, 40, DRUM_PROGRAM]
    table = result.clip.table
    assert table.onset_q.max() < 6 * bar_quarters((6, 8))
    pitched = table.pitch[table.program != DRUM_PROGRAM]
    assert key_membership(pitched, Key(2, "major")) >= 0.9
    assert result.measured.instruments == [32, 40, DRUM_PROGRAM]


def test_other_meters_and_sampled_attributes(composer: Composer) -> None:
    for time_signature, bars in (((3, 4), 4), ((4, 4), 5), ((2, 4), 3)):
        result = composer.generate(Attributes(time_signature=time_signature, bars=bars, instruments=[73]),
                                   Sampling(seed=bars))
        assert _bars_in_file(result.midi)[:2] == (bars, time_signature)
    sampled = composer.generate(Attributes(bars=3), Sampling(seed=5))  # everything else is sampled
    assert sampled.requested.instruments and sampled.measured.instruments == sampled.requested.instruments
    assert sampled.measured.time_signature == sampled.requested.time_signature


def test_a_requested_church_mode_sounds_its_colour_degree(composer: Composer) -> None:
    """A mixolydian tune that never plays its flat 7th is a major tune: the mode's colour is steered in."""
    for seed in (1, 2, 3):
        result = composer.generate(Attributes(instruments=[73, 32], key=Key(9, "mixolydian"), time_signature=(4, 4),
                                              bars=8), Sampling(seed=seed))
        table = result.clip.table
        pitch_classes = table.pitch[table.program != DRUM_PROGRAM] % 12
        flat_seventh = np.count_nonzero(pitch_classes == 7)  # G natural, A mixolydian's 7th
        assert flat_seventh >= 2
        assert np.count_nonzero(pitch_classes == 8) < flat_seventh  # G#, A major's 7th, is out of the mode


def test_a_requested_range_in_octaves_caps_the_span_and_is_reached(composer: Composer) -> None:
    """1.2 octaves is range level [1.0, 1.5): no clip spans more than 17 semitones, and most reach 12."""
    reached = 0
    for seed in range(1, 7):
        result = composer.generate(Attributes(instruments=[40, 73], key=Key(7, "major"), bars=4,
                                              pitch_range_octaves=1.2), Sampling(seed=seed))
        pitches = result.clip.table.pitch[result.clip.table.program != DRUM_PROGRAM]
        span = int(pitches.max() - pitches.min())
        assert span <= 17, f"seed {seed}: span {span} semitones"
        reached += span >= 12
    assert reached >= 4


def test_a_requested_density_paces_the_onsets(composer: Composer) -> None:
    def onsets_per_quarter(intensity: float) -> float:
        values = [composer.generate(Attributes(instruments=[73], time_signature=(4, 4), bars=8,
                                               rhythm_intensity=intensity), Sampling(seed=seed))
                  .measured.extra["onsets_per_quarter"] for seed in (1, 2, 3)]
        return float(np.mean(values))

    sparse, dense = onsets_per_quarter(0.0), onsets_per_quarter(1.0)
    assert sparse < 1.0  # level 0: under 0.75 onsets per quarter, give or take the pacing slack
    assert dense > 2.0  # level 4: 2.25 and more
    assert dense > 2 * sparse


def test_pitch_range_is_a_hard_limit(composer: Composer) -> None:
    result = composer.generate(Attributes(instruments=[73], bars=4, pitch_low=67, pitch_high=79), Sampling(seed=3))
    assert result.clip.table.pitch.min() >= 67 and result.clip.table.pitch.max() <= 79


def test_continue_keeps_the_primer_and_adds_bars(composer: Composer) -> None:
    primer_table = scale_tune(62, bars=4, program=73)
    primer = table_to_midi(primer_table, (4, 4), 100.0)
    result = composer.continue_clip(primer, 4, Sampling(seed=4))
    bars, time_signature, tempo_bpm, programs = _bars_in_file(result.midi)
    assert (bars, time_signature, tempo_bpm, programs) == (8, (4, 4), 100.0, [73])
    table = result.clip.table
    first = table.select(table.onset_q < 16)
    assert np.array_equal(first.pitch, primer_table.pitch) and np.allclose(first.onset_q, primer_table.onset_q)
    only_new = composer.continue_clip(primer, 2, Sampling(seed=4), continuation_only=True)
    assert _bars_in_file(only_new.midi)[0] == 2


def test_infill_changes_only_the_chosen_bars(composer: Composer) -> None:
    original = scale_tune(60, bars=6, program=0, seed=9)
    midi = table_to_midi(original, (4, 4), 110.0, bars=6)
    result = composer.infill(midi, [2, 3], sampling=Sampling(seed=6))
    table = result.clip.table
    outside = (table.onset_q < 8) | (table.onset_q >= 16)
    kept = table.select(outside)
    original_outside = original.select((original.onset_q < 8) | (original.onset_q >= 16))
    assert np.array_equal(kept.pitch, original_outside.pitch)
    assert np.allclose(kept.onset_q, original_outside.onset_q)
    assert _bars_in_file(result.midi)[:2] == (6, (4, 4))


def test_infill_picks_the_candidate_that_leads_into_the_bars_after_the_gap(composer: Composer, monkeypatch) -> None:
    """A gap with bars after it gets several candidates, and the one under which the model finds those
    bars most likely is kept: the output is the first candidate exactly when that one scores best."""
    import symbolic.composer as composer_module

    original = scale_tune(62, bars=6, program=40, seed=4)
    midi = table_to_midi(original, (4, 4), 100.0, bars=6)

    def gap_notes(result) -> list:
        table = result.clip.table
        inside = (table.onset_q >= 8) & (table.onset_q < 12)
        return sorted(zip(table.onset_q[inside].round(3).tolist(), table.pitch[inside].tolist()))

    differed = 0
    for seed in (1, 2, 3):
        result = composer.infill(midi, [2], sampling=Sampling(seed=seed))
        [scores] = result.notes["gap_scores"]
        assert len(scores) == 3 and all(np.isfinite(scores))
        with monkeypatch.context() as patch:  # the first candidate alone (same seed): a left-to-right infill
            patch.setattr(composer_module, "INFILL_CANDIDATES", 1)
            first_only = composer.infill(midi, [2], sampling=Sampling(seed=seed))
        best_is_first = int(np.argmax(scores)) == 0
        differed += not best_is_first
        if not best_is_first:
            assert gap_notes(result) != gap_notes(first_only)
        else:
            assert gap_notes(result) == gap_notes(first_only)
    at_the_end = composer.infill(midi, [5], sampling=Sampling(seed=1))
    assert at_the_end.notes["gap_scores"] == [[0.0]]  # nothing after the gap: one candidate
    assert differed >= 1


def test_a_regenerated_track_is_written_around_the_kept_tracks_notes(composer: Composer) -> None:
    """The bars being written hold the kept melody's notes where they fall (the model hears them), in a
    valid token order; the new bass and the kept melody both come out of them."""
    from symbolic.codec import decode_bars, encode_bars
    from symbolic.decoding import BodyConstraints, Decoder, generate_bars, kept_events, sample_prefix

    melody = scale_tune(74, bars=2, notes_per_bar=4, program=73, seed=2)
    kept = encode_bars(composer.tokenizer, composer.vocab, melody, (4, 4), 100.0, 2)
    decoder = Decoder(composer.model, composer.vocab, Sampling(seed=1))
    plan, _ = composer._plan(Attributes(instruments=[73, 32], key=Key(2, "major"), time_signature=(4, 4), bars=2),
                             random.Random(1))
    prefix = sample_prefix(decoder, plan, [32, 73], sorted(composer.vocab.program))
    bars = generate_bars(decoder, prefix, [], 2, BodyConstraints(time_signature=(4, 4), programs=[32]), kept=kept)
    position_of = {index: value for value, index in composer.vocab.position.items()}
    for bar, kept_bar in zip(bars, kept):
        positions = [position_of[t] for t in bar if t in position_of]
        assert positions == sorted(positions) and len(set(positions)) == len(positions)
        for position, tokens in kept_events(kept_bar, composer.vocab):
            at = [i for i, t in enumerate(bar) if t == composer.vocab.position[position]]
            assert at, f"kept position {position} missing"
            following = bar[at[0] + 1:]
            assert all(t in following for t in tokens)
    table = decode_bars(composer.tokenizer, bars, (4, 4))
    flute = table.select(table.program == 73)
    assert sorted(flute.pitch.tolist()) == sorted(melody.pitch.tolist())
    assert np.count_nonzero(table.program == 32) >= 2


def test_infill_of_one_track_keeps_the_other_and_the_bars_around(composer: Composer) -> None:
    clip = composer.generate(Attributes(instruments=[73, 32], key=Key(7, "major"), time_signature=(4, 4), bars=4),
                             Sampling(seed=11))
    before = clip.clip.table
    bass_track = midi_to_clip(clip.midi).track_programs.index(32)  # tracks as the file holds them
    result = composer.infill(clip.midi, [1, 2], tracks=[bass_track], sampling=Sampling(seed=5))
    after = result.clip.table
    flute_a, flute_b = before.select(before.program == 73), after.select(after.program == 73)
    assert sorted(zip(flute_a.onset_q.round(3), flute_a.pitch)) == sorted(zip(flute_b.onset_q.round(3), flute_b.pitch))
    outside = lambda t: t.select((t.program == 32) & ((t.onset_q < 4) | (t.onset_q >= 12)))  # noqa: E731
    assert sorted(zip(outside(before).onset_q.round(3), outside(before).pitch)) == sorted(
        zip(outside(after).onset_q.round(3), outside(after).pitch))
    assert np.count_nonzero((after.program == 32) & (after.onset_q >= 4) & (after.onset_q < 12)) >= 1


def test_bad_requests(composer: Composer) -> None:
    with pytest.raises(InvalidInput):
        composer.generate(Attributes(bars=0))
    with pytest.raises(LimitExceeded):
        composer.generate(Attributes(bars=10_000))
    with pytest.raises(InvalidInput):
        composer.generate(Attributes(time_signature=(7, 16)))
    with pytest.raises(InvalidInput):
        composer.generate(Attributes(instruments=[300]))
    with pytest.raises(InvalidInput):
        composer.continue_clip(b"MThd\x00\x00\x00\x06garbage", 4)
    with pytest.raises(InvalidInput):
        composer.continue_clip(b"not midi at all", 4)
    with pytest.raises(InvalidInput):
        composer.infill(table_to_midi(scale_tune(60, bars=2), (4, 4), 100.0), [5])
