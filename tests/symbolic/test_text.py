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


@pytest.mark.parametrize("text, meter", [
    ("a waltz for piano", (3, 4)), ("a jig for fiddle", (6, 8)), ("a slip jig", (9, 8)), ("a reel", (4, 4)),
    ("a polka with accordion", (2, 4)), ("a march for brass", (2, 4)), ("a minuet", (3, 4)),
    ("a march in 6/8", (6, 8)), ("a reel in cut time", (2, 2)),
])
def test_style_words_set_the_meter_unless_the_text_names_one(text: str, meter: tuple[int, int]) -> None:
    assert parse_text(text).attributes.time_signature == meter


def test_tempo_words_fall_within_the_style_range() -> None:
    slow_waltz = parse_text("a slow waltz").attributes.tempo_bpm
    lively_waltz = parse_text("a lively waltz").attributes.tempo_bpm
    assert slow_waltz is not None and 80 <= slow_waltz <= 100  # not 120
    assert lively_waltz is not None and lively_waltz > 150
    slow_reel = parse_text("a slow reel").attributes.tempo_bpm
    assert slow_reel is not None and slow_reel > slow_waltz + 40  # a slow reel still moves
    assert parse_text("a slow lament").attributes.tempo_bpm <= 60
    assert parse_text("a waltz at 100 bpm, slow").attributes.tempo_bpm == 100  # a number wins


@pytest.mark.parametrize("text, programs", [
    ("a string quartet in G minor", [40, 41, 42]), ("a piano trio", [0, 40, 42]),
    ("jazz trio", [0, 32, DRUM_PROGRAM]), ("rock band", [29, 33, DRUM_PROGRAM]),
    ("a big band", [56, 57, 65, 0, 32, DRUM_PROGRAM]), ("brass quintet", [56, 60, 57, 58]),
    ("distorted electric guitar with drums", [30, DRUM_PROGRAM]), ("overdriven guitar", [29]),
    ("clean electric guitar", [27]), ("nylon guitar and steel-string guitar", [24, 25]),
    ("acoustic bass and electric piano", [32, 4]), ("fretless bass", [35]),
    ("a saw lead over a warm pad", [81, 89]), ("square lead", [80]), ("synth strings", [50]),
])
def test_ensembles_expand_and_adjectives_choose_programs(text: str, programs: list[int]) -> None:
    parsed = parse_text(text)
    assert sorted(parsed.attributes.instruments) == sorted(programs)
    assert parsed.ignored == []
