"""Control from the DAW as pure code: mapping files, control-channel messages, the key from held notes."""

from __future__ import annotations

from pathlib import Path

import pytest

from daw_bridge import midi
from daw_bridge.control import DEFAULT_MAPPING, ControlMapper, estimate_key, load_mapping, parse_note
from ostinato.errors import InvalidInput

CONTROL = 15  # channel 16


def test_a_mapping_file_in_toml_maps_notes_programs_and_controllers(tmp_path: Path) -> None:
    path = tmp_path / "controls.toml"
    path.write_text(
        'control_channel = 10\nlaunch = "phrase"\nphrase_bars = 2\nloop = false\nbars = 8\n'
        '[notes]\nC1 = "generate"\n"C#1" = "continue"\n40 = "drumify"\n'
        '[programs]\n3 = "vary"\n[cc]\n74 = "density"\n[mute]\n20 = 2\n'
    )
    mapping = load_mapping(path)
    assert mapping.control_channel == 9
    assert mapping.notes == {24: "generate", 25: "continue", 40: "drumify"}
    assert mapping.programs == {3: "vary"} and mapping.controllers == {74: "density"}
    assert mapping.mute == {20: 1} and mapping.launch_bars == 2 and not mapping.loop and mapping.bars == 8


def test_json_works_too(tmp_path: Path) -> None:
    path = tmp_path / "controls.json"
    path.write_text('{"notes": {"36": "generate"}, "cc": {"1": "density"}}')
    assert load_mapping(path).notes == {36: "generate"}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[notes]\n36 = "explode"\n', "'explode' is not one of"),
        ('control_channel = 17\n[notes]\n36 = "generate"\n', "control_channel = 17"),
        ('[notes]\nH9 = "generate"\n', "not a MIDI note"),
        ('[cc]\n1 = "density"\n[mute]\n1 = 1\n', "controller 1 is mapped twice"),
        ('launch = "sometime"\n[notes]\n36 = "generate"\n', "launch"),
        ('volume = 3\n', "unknown setting(s) volume"),
        ("[notes\n", "is not valid TOML"),
        ("", "maps nothing"),
    ],
)
def test_a_bad_mapping_file_is_refused_with_a_message_naming_it(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InvalidInput) as error:
        load_mapping(path)
    assert str(path) in str(error.value) and says in str(error.value)


def test_a_missing_mapping_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="nowhere.toml"):
        load_mapping(tmp_path / "nowhere.toml")


def test_a_control_note_asks_for_a_clip_in_the_key_of_the_notes_held_with_the_density_of_the_knob() -> None:
    mapper = ControlMapper(DEFAULT_MAPPING)
    # The user holds an A minor triad on the playing channel...
    for pitch in (57, 60, 64):
        assert mapper.handle(midi.note_on(0, pitch, 80)) is None  # not a control message: played and captured
    # ...turns the density knob to about three quarters...
    result = mapper.handle(bytes((midi.CONTROL_CHANGE | CONTROL, 1, 95)))
    assert result is not None and "density 0.75" in result.said
    # ...and hits the generate pad.
    result = mapper.handle(midi.note_on(CONTROL, 36, 100))
    assert result is not None and result.action is not None
    action = result.action
    assert action.kind == "generate" and action.key == (9, "minor") and action.density == pytest.approx(0.748, abs=0.001)
    assert action.loop and action.launch_bars == 1
    # The pad's release means nothing more, silently.
    assert mapper.handle(midi.note_off(CONTROL, 36)) is not None
    # Releasing the chord: no key any more.
    for pitch in (57, 60, 64):
        mapper.handle(midi.note_off(0, pitch))
    assert mapper.handle(midi.note_on(CONTROL, 37, 100)).action.key is None  # type: ignore[union-attr]


def test_the_launch_knob_switches_between_bar_and_phrase() -> None:
    mapper = ControlMapper(DEFAULT_MAPPING)
    mapper.handle(bytes((midi.CONTROL_CHANGE | CONTROL, 15, 127)))
    assert mapper.handle(midi.note_on(CONTROL, 36, 100)).action.launch_bars == 4  # type: ignore[union-attr]


def test_program_changes_and_mute_controllers() -> None:
    mapper = ControlMapper(DEFAULT_MAPPING)
    assert mapper.handle(bytes((0xC0 | CONTROL, 2))).action.kind == "vary"  # type: ignore[union-attr]
    mute = mapper.handle(bytes((midi.CONTROL_CHANGE | CONTROL, 21, 127))).action  # type: ignore[union-attr]
    assert (mute.kind, mute.output_port, mute.mute) == ("mix", 1, True)


@pytest.mark.parametrize("message", [midi.note_on(CONTROL, 90, 100), bytes((midi.CONTROL_CHANGE | CONTROL, 99, 1)),
                                     bytes((0xC0 | CONTROL, 77)), bytes((0xE0 | CONTROL, 0, 64))])
def test_a_control_message_that_means_nothing_is_refused_with_a_message(message: bytes) -> None:
    result = ControlMapper(DEFAULT_MAPPING).handle(message)
    assert result is not None and result.action is None
    assert "means nothing" in result.refused and "control channel 16" in result.refused


@pytest.mark.parametrize(("pitches", "key"), [
    ([60, 64, 67], (0, "major")), ([62, 66, 69, 72], (2, "major")), ([57, 60, 64], (9, "minor")),
    ([60, 62, 64, 65, 67, 69, 71], (0, "major")), ([60], None),
])
def test_key_from_the_notes_held(pitches: list[int], key) -> None:  # type: ignore[no-untyped-def]
    assert estimate_key(pitches) == key


def test_note_names() -> None:
    assert parse_note("C4", "x") == 60 and parse_note("C-1", "x") == 0 and parse_note("F#2", "x") == 42
    assert parse_note("Bb1", "x") == 34
