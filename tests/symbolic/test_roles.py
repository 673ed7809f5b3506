"""Every requested part really plays: roles from the ensemble, parts present in every bar, bass on the
chord's root, a given progression followed beat by beat, and the key heard by music21."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from ostinato.errors import InvalidInput
from symbolic.attributes import DRUM_PROGRAM, Attributes, Key
from symbolic.chords import parse_chord
from symbolic.composer import Composer
from symbolic.decoding import Sampling
from symbolic.roles import assign_roles, check_role

SHIPPED = Path(__file__).resolve().parents[2] / "symbolic" / "pretrained" / "default"


@pytest.fixture(scope="module")
def composer() -> Composer:
    return Composer.from_pretrained(SHIPPED)


def test_roles_come_from_the_family_and_the_ensemble() -> None:
    assert assign_roles([0, 33, DRUM_PROGRAM]) == {0: "chords", 33: "bass", DRUM_PROGRAM: "drums"}
    assert assign_roles([0, 32, 65, DRUM_PROGRAM]) == {65: "melody", 0: "chords", 32: "bass", DRUM_PROGRAM: "drums"}
    assert assign_roles([40, 41, 42]) == {40: "melody", 41: "counter_melody", 42: "bass"}  # a string quartet
    assert assign_roles([81, 89, 38, DRUM_PROGRAM])[89] == "pad"
    assert assign_roles([73]) == {73: "melody"}
    assert assign_roles([0]) == {0: "chords"}  # a solo piano plays chords under its tune
    assert assign_roles([0, 33], {0: "melody"})[0] == "melody"
    with pytest.raises(InvalidInput, match="cannot play the bass role"):
        check_role(73, "bass")
    with pytest.raises(InvalidInput, match="drums"):
        assign_roles([0, DRUM_PROGRAM], {DRUM_PROGRAM: "melody"})


def _onset_bars(table, program: int, bar_q: float, bars: int) -> set[int]:
    onsets = table.onset_q[table.program == program]
    return {int(o // bar_q) for o in onsets if o < bars * bar_q}


def test_every_part_plays_in_every_bar_and_the_bass_plays_the_roots(composer: Composer) -> None:
    for programs, seed in (([30, 34, DRUM_PROGRAM], 1), ([81, 89, 38, DRUM_PROGRAM], 2), ([40, 41, 42], 3)):
        result = composer.generate(Attributes(instruments=programs, key=Key(4, "minor"), time_signature=(4, 4),
                                              tempo_bpm=120.0, bars=8), Sampling(seed=seed))
        table = result.clip.table
        for program in programs:
            assert _onset_bars(table, program, 4.0, 8) == set(range(8)), f"{programs}: {program} is silent in a bar"
        roles = result.requested.roles
        bass = next(p for p, role in roles.items() if role == "bass")
        assert len(result.chords) == 8
        for bar, symbol in enumerate(result.chords):
            downbeat = table.select((table.program == bass) & np.isclose(table.onset_q, bar * 4.0))
            assert len(downbeat) >= 1 and int(downbeat.pitch[0]) % 12 == parse_chord(symbol).bass


def test_a_given_progression_is_followed_on_every_beat(composer: Composer) -> None:
    """Root and third of each bar's chord sound on every beat (judged on the written MIDI file)."""
    from symbolic.evaluate_external import judge

    total = 0
    for programs, seed in (([0, 33, DRUM_PROGRAM], 4), ([4, 33, 48, DRUM_PROGRAM], 5), ([40, 41, 42], 6)):
        result = composer.generate(Attributes(instruments=programs, bars=8, time_signature=(4, 4), tempo_bpm=100.0,
                                              chords="Am F C G"), Sampling(seed=seed))
        assert result.chords == ["Am", "F", "C", "G"] * 2
        followed, judged = judge(result.midi, result.chords).chord_beats
        assert judged == 32
        # piano/pad ensembles hold the chord; a string quartet's cello and viola carry root and third
        assert followed >= (28 if 40 not in programs else 20), f"{programs}: {followed}/{judged} beats"
        total += followed
    assert total >= 0.8 * 96


def test_music21_hears_the_requested_key(composer: Composer) -> None:
    from music21 import converter

    from symbolic.midi_io import midi_to_clip, table_to_midi

    heard = 0
    requests = ((Key(2, "major"), [0, 33, DRUM_PROGRAM]), (Key(9, "minor"), [81, 38, DRUM_PROGRAM]),
                (Key(7, "major"), [40, 41, 42]), (Key(4, "minor"), [25, 53]))
    for seed, (key, programs) in enumerate(requests, start=1):
        result = composer.generate(Attributes(instruments=programs, key=key, time_signature=(4, 4), bars=8),
                                   Sampling(seed=seed))
        clip = midi_to_clip(result.midi)
        pitched = clip.table.select(clip.table.program != DRUM_PROGRAM)
        midi = table_to_midi(pitched, clip.time_signature, clip.tempo_bpm)
        with tempfile.NamedTemporaryFile(suffix=".mid") as handle:
            handle.write(midi)
            handle.flush()
            found = converter.parse(handle.name).analyze("key")
        heard += (found.tonic.pitchClass, found.mode) == (key.tonic_pitch_class, key.mode)
    assert heard >= 3


def test_bad_chords_and_roles_are_invalid_input(composer: Composer) -> None:
    with pytest.raises(InvalidInput, match=r"chord 2 'Q7'"):
        composer.generate(Attributes(instruments=[0], bars=4, chords="C Q7 F G"))
    with pytest.raises(InvalidInput, match="5 chords were given for 4 bars"):
        composer.generate(Attributes(instruments=[0], bars=4, chords="C G Am F C"))
    with pytest.raises(InvalidInput, match="cannot play the pad role"):
        composer.generate(Attributes(instruments=[73, 33], bars=4, roles={73: "pad"}))
