from __future__ import annotations

import pytest

from daw_bridge import midi
from daw_bridge.midi import TimedMessage, clip_from_midi, midi_from_messages, note_off, note_on
from ostinato.errors import InvalidInput
from tests.conftest import make_midi
from tests.daw_bridge.conftest import scale_clip_midi


def test_clip_places_notes_on_beats_regardless_of_the_files_tempo() -> None:
    # pretty_midi writes seconds; at 90 BPM a note at 2.0 s falls on beat 3.
    data = make_midi([(60, 0.0, 0.5), (64, 2.0, 2.5)], tempo_bpm=90.0)
    clip = clip_from_midi(data)
    ons = [m for m in clip.messages if midi.is_note_on(m.data)]
    assert [m.data[1] for m in ons] == [60, 64]
    assert ons[0].beat == pytest.approx(0.0)
    assert ons[1].beat == pytest.approx(3.0, abs=1e-3)
    assert clip.length_beats == 4.0


def test_clip_keeps_channels_orders_offs_first_and_rounds_length_to_bars() -> None:
    clip = clip_from_midi(scale_clip_midi(bars=2, channel=3, tracks=2))
    channels = {midi.channel_of(m.data) for m in clip.messages}
    assert channels == {3, 4}
    assert {m.track for m in clip.messages} == {0, 1}
    assert clip.note_count == 2 * 16
    assert clip.length_beats == 8.0
    # A repeated note: the release at beat 1 comes before the strike at beat 1.
    data = midi_from_messages(
        [TimedMessage.of(0, note_on(0, 60, 80)), TimedMessage.of(1, note_off(0, 60)),
         TimedMessage.of(1, note_on(0, 60, 80)), TimedMessage.of(2, note_off(0, 60))]
    )
    at_one = [m for m in clip_from_midi(data).messages if m.beat == 1.0]
    assert midi.is_note_off(at_one[0].data) and midi.is_note_on(at_one[1].data)


def test_a_hanging_note_is_closed_at_the_clips_end() -> None:
    data = midi_from_messages([TimedMessage.of(0, note_on(0, 60, 80)), TimedMessage.of(3, note_on(0, 62, 80)),
                               TimedMessage.of(3.5, note_off(0, 62))])
    clip = clip_from_midi(data)
    offs = [m for m in clip.messages if midi.is_note_off(m.data)]
    assert sorted(m.data[1] for m in offs) == [60, 62]


def test_unreadable_bytes_are_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        clip_from_midi(b"not a midi file")
    with pytest.raises(InvalidInput):
        clip_from_midi(b"")


def test_song_position_round_trips_and_all_notes_off_covers_every_channel() -> None:
    assert midi.decode_song_position(midi.song_position(1234)) == 1234
    offs = midi.all_notes_off()
    assert {m[0] & 0x0F for m in offs} == set(range(16))
    assert {m[1] for m in offs} == {midi.CC_ALL_NOTES_OFF, midi.CC_ALL_SOUND_OFF}


def test_sounding_notes_release_exactly_the_held_ones() -> None:
    held = midi.SoundingNotes()
    held.update(note_on(0, 60, 90))
    held.update(note_on(9, 36, 90), output=1)
    held.update(note_on(0, 62, 90))
    held.update(note_off(0, 62))
    assert sorted(held.release()) == [(0, note_off(0, 60)), (1, note_off(9, 36))]
    assert len(held) == 0
