"""MIDI bytes the bridge speaks: channel messages, real-time transport messages, and the conversion
between Standard MIDI File clips and beat-stamped events.

Beats are quarter notes. A clip's own tempo is ignored when it is placed on the session's grid: the
DAW's clock decides how long a beat lasts, the clip only says on which beat a note falls.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Callable

import mido

from ostinato.errors import InvalidInput
from ostinato.midi_scan import scan_midi

# System real-time and common messages (MIDI 1.0 spec, "System Real Time Messages").
CLOCK = 0xF8
START = 0xFA
CONTINUE = 0xFB
STOP = 0xFC
SONG_POSITION = 0xF2
ACTIVE_SENSING = 0xFE

NOTE_OFF = 0x80
NOTE_ON = 0x90
CONTROL_CHANGE = 0xB0
CC_ALL_SOUND_OFF = 120
CC_ALL_NOTES_OFF = 123

CLOCKS_PER_BEAT = 24
# Song Position Pointer counts sixteenth notes: six clocks each.
CLOCKS_PER_SIXTEENTH = 6
DRUM_CHANNEL = 9


@dataclass(frozen=True, order=True)
class TimedMessage:
    """One MIDI message placed on the beat grid.

    Ordering is by beat, then note-offs before note-ons at the same beat (so a repeated note is
    released before it is struck again), then track.
    """

    beat: float
    order: int
    track: int
    data: bytes

    @classmethod
    def of(cls, beat: float, data: bytes, track: int = 0) -> "TimedMessage":
        return cls(beat=beat, order=0 if is_note_off(data) else 1, track=track, data=bytes(data))


def note_on(channel: int, pitch: int, velocity: int) -> bytes:
    return bytes((NOTE_ON | channel, pitch, velocity))


def note_off(channel: int, pitch: int) -> bytes:
    return bytes((NOTE_OFF | channel, pitch, 0))


def is_note_on(data: bytes) -> bool:
    return len(data) == 3 and data[0] & 0xF0 == NOTE_ON and data[2] > 0


def is_note_off(data: bytes) -> bool:
    return len(data) == 3 and (data[0] & 0xF0 == NOTE_OFF or (data[0] & 0xF0 == NOTE_ON and data[2] == 0))


def channel_of(data: bytes) -> int | None:
    if data and 0x80 <= data[0] < 0xF0:
        return data[0] & 0x0F
    return None


def all_notes_off(channels: range | list[int] = range(16)) -> list[bytes]:
    """All Sound Off and All Notes Off on each channel: what a DAW expects when the transport stops."""
    messages = []
    for channel in channels:
        messages.append(bytes((CONTROL_CHANGE | channel, CC_ALL_NOTES_OFF, 0)))
        messages.append(bytes((CONTROL_CHANGE | channel, CC_ALL_SOUND_OFF, 0)))
    return messages


def song_position(sixteenths: int) -> bytes:
    """Song Position Pointer for a position counted in sixteenth notes (0 to 16383)."""
    if not 0 <= sixteenths < 1 << 14:
        raise InvalidInput(f"song position {sixteenths} is outside 0-16383 sixteenth notes")
    return bytes((SONG_POSITION, sixteenths & 0x7F, sixteenths >> 7))


def decode_song_position(data: bytes) -> int:
    return data[1] | (data[2] << 7)


class SoundingNotes:
    """Which (channel, pitch) pairs are held down on which output, so stopping can release exactly
    those notes (some synths ignore All Notes Off)."""

    def __init__(self) -> None:
        self._held: dict[tuple[int, int, int], int] = {}

    def update(self, data: bytes, output: int = 0) -> None:
        if is_note_on(data):
            key = (output, data[0] & 0x0F, data[1])
            self._held[key] = self._held.get(key, 0) + 1
        elif is_note_off(data):
            key = (output, data[0] & 0x0F, data[1])
            count = self._held.get(key, 0) - 1
            if count > 0:
                self._held[key] = count
            else:
                self._held.pop(key, None)

    def holds(self, output: int, data: bytes) -> bool:
        return (output, data[0] & 0x0F, data[1]) in self._held

    def release_where(self, silenced: "Callable[[int], bool]") -> list[tuple[int, bytes]]:
        """Releases (and forgets) the held notes of the outputs `silenced` picks."""
        keys = sorted(key for key in self._held if silenced(key[0]))
        offs = []
        for output, channel, pitch in keys:
            offs.extend((output, note_off(channel, pitch)) for _ in range(self._held.pop((output, channel, pitch))))
        return offs

    def release(self) -> list[tuple[int, bytes]]:
        """Returns (output, note-off) for every held note, and forgets them."""
        offs = [(output, note_off(channel, pitch)) for (output, channel, pitch) in sorted(self._held)]
        self._held.clear()
        return offs

    def __len__(self) -> int:
        return len(self._held)


@dataclass(frozen=True)
class Clip:
    """A clip as the bridge plays it: messages on a grid starting at beat 0, and its length."""

    messages: tuple[TimedMessage, ...]
    length_beats: float
    track_names: tuple[str, ...] = ()

    @property
    def note_count(self) -> int:
        return sum(1 for m in self.messages if is_note_on(m.data))


def clip_from_midi(midi_bytes: bytes, beats_per_bar: float = 4.0) -> Clip:
    """Parses Standard MIDI File bytes into a clip of channel messages on the beat grid.

    Only note and controller/program/pitch-bend messages are kept (meta events and SysEx are the
    session's business, not the clip's). The length is the last note's end rounded up to whole bars. Every note-on gets a
    matching note-off: a file that leaves a note hanging is closed at the clip's end.
    """
    if not midi_bytes:
        raise InvalidInput("the clip's MIDI file is empty")
    scan_midi(midi_bytes)  # cost bounds before mido builds a message object per event
    try:
        midi = mido.MidiFile(file=io.BytesIO(midi_bytes))
    except (OSError, EOFError, ValueError, KeyError, IndexError) as error:
        raise InvalidInput(f"the clip is not a readable Standard MIDI File ({error})") from error
    if midi.type == 2:
        raise InvalidInput("type 2 MIDI files (independent sequences) cannot be played as one clip")
    ticks_per_beat = midi.ticks_per_beat
    messages: list[TimedMessage] = []
    names: list[str] = []
    end_beat = 0.0
    note_tracks = [track for track in midi.tracks if any(not m.is_meta for m in track)]
    for track_index, track in enumerate(note_tracks):
        names.append(track.name)
        tick = 0
        held: dict[tuple[int, int], list[float]] = {}
        for message in track:
            tick += message.time
            beat = tick / ticks_per_beat
            if message.is_meta or message.type == "sysex":
                continue
            end_beat = max(end_beat, beat)
            data = bytes(message.bytes())
            if data[0] >= 0xF0:
                continue
            if is_note_on(data):
                held.setdefault((data[0] & 0x0F, data[1]), []).append(beat)
            elif is_note_off(data):
                starts = held.get((data[0] & 0x0F, data[1]))
                if not starts:
                    continue  # a note-off without its note-on would release another clip's note
                starts.pop()
                data = note_off(data[0] & 0x0F, data[1])
            messages.append(TimedMessage.of(beat, data, track_index))
        for (channel, pitch), starts in held.items():
            for _ in starts:
                messages.append(TimedMessage.of(end_beat, note_off(channel, pitch), track_index))
    # The clip ends at the bar line after its last note (a note ending a hair past a bar line, or an
    # end-of-track a tick later, does not add a bar).
    bars = max(1, math.ceil(end_beat / beats_per_bar - 1 / 64))
    return Clip(messages=tuple(sorted(messages)), length_beats=bars * beats_per_bar, track_names=tuple(names))


def midi_from_messages(
    messages: list[TimedMessage],
    tempo_bpm: float = 120.0,
    time_signature: tuple[int, int] = (4, 4),
    ticks_per_beat: int = 480,
) -> bytes:
    """Writes beat-stamped messages as a type 1 Standard MIDI File, one track per `track` index."""
    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm), time=0))
    conductor.append(
        mido.MetaMessage("time_signature", numerator=time_signature[0], denominator=time_signature[1], time=0)
    )
    midi.tracks.append(conductor)
    by_track: dict[int, list[TimedMessage]] = {}
    for message in sorted(messages):
        by_track.setdefault(message.track, []).append(message)
    for track_index in sorted(by_track):
        track = mido.MidiTrack()
        last_tick = 0
        for message in by_track[track_index]:
            tick = max(last_tick, round(message.beat * ticks_per_beat))
            track.append(mido.Message.from_bytes(list(message.data), time=tick - last_tick))
            last_tick = tick
        midi.tracks.append(track)
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()
