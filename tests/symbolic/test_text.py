"""Free text to attributes, offline."""

from __future__ import annotations

import pytest

from ostinato.errors import LimitExceeded
from symbolic.attributes import DRUM_PROGRAM, Key
from symbolic.text import parse_text


def test_the_issue_example() -> None:
    parsed = parse_text("a lively jig in D major for fiddle and flute, 16 bars")
    attributes = parsed.attributes
    assert attributes.style == "jig"
    assert attributes.key == Key(2, "major")
    assert sorted(attributes.instruments) == [40, 73]
    assert attributes.bars == 16
    assert attributes.tempo_bpm is not None and attributes.tempo_bpm >= 170  # lively for a jig
    assert parsed.ignored == []
    assert any("D major" in line for line in parsed.understood)


def test_meter_tempo_drums_and_ignored_words() -> None:
    parsed = parse_text("a waltz in A minor with piano, acoustic bass and drums at 140 bpm, 3/4, funky")
    attributes = parsed.attributes
    assert attributes.time_signature == (3, 4)
    assert attributes.tempo_bpm == 140
    assert attributes.key == Key(9, "minor")
    assert sorted(attributes.instruments) == [DRUM_PROGRAM, 0, 32]
    assert parsed.ignored == ["funky"]


def test_article_a_is_not_a_key_and_modes_are_read() -> None:
    assert parse_text("a tune for flute").attributes.key is None
    assert parse_text("reel in G mixolydian").attributes.key == Key(7, "mixolydian")
    assert parse_text("slow air in Em").attributes.key == Key(4, "minor")


def test_too_long_text_is_refused() -> None:
    with pytest.raises(LimitExceeded):
        parse_text("x" * 1001)
