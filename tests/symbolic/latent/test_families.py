"""How a file's tracks pick a latent model family (symbolic.latent.families), on MIDI files built in code."""

from __future__ import annotations

import pytest

from ostinato.errors import InvalidInput
from symbolic.latent import families
from tests.symbolic.latent.clips import scale_run
from tests.symbolic.latent.test_representation import BASS, DRUMS, named_tracks_midi

BAND = named_tracks_midi([("Tune", 73, False, scale_run()), ("Bass", 33, False, BASS), ("Kit", 0, True, DRUMS)])
GROOVE = named_tracks_midi([("Kit", 0, True, DRUMS)])
DUO = named_tracks_midi([("Tune", 73, False, scale_run()), ("Bass", 33, False, BASS)])
ALL = {"melody", "bass", "drums", "trio"}


def test_the_tracks_of_a_file_pick_drums_trio_or_a_line() -> None:
    assert families.kind_of(families.tracks_of(GROOVE), "", ALL)[0] == "drums"
    assert families.kind_of(families.tracks_of(BAND), "", ALL)[0] == "trio"
    assert families.kind_of(families.tracks_of(DUO), "", ALL)[0] == "line"  # no drums: one line is read
    # without a trio model an arrangement is read as one line (read_clip says what was left out)
    assert families.kind_of(families.tracks_of(BAND), "", {"melody", "bass"})[0] == "line"


def test_a_named_family_wins_and_unknown_or_missing_ones_are_refused() -> None:
    assert families.kind_of(families.tracks_of(BAND), "melody", ALL) == ("line", "named in the request")
    assert families.check_family(" Melody16 ") == "melody_16bar"
    assert families.check_family("auto") == ""
    with pytest.raises(InvalidInput, match="unknown model family"):
        families.check_family("strings")
    with pytest.raises(InvalidInput, match="not installed"):
        families.kind_of([], "trio", {"melody", "bass"})


def test_the_bass_family_finds_the_lowest_track_and_a_low_line_is_read_as_bass() -> None:
    assert families.lowest_track(families.tracks_of(BAND)).name == "Bass"
    assert families.line_family("", 40.0, 2, False)[0] == "bass"
    assert families.line_family("", 70.0, 2, False)[0] == "melody"
    assert families.line_family("bass_16bar", 70.0, 16, True) == ("bass_16bar", "named in the request")
