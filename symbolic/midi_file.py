"""A Standard MIDI File kept as its own event stream, for editing without re-writing it.

Continue and infill change a few bars of a user's file. Everything they do not touch (notes, tempo map,
meter changes, key signatures, program changes, controllers, sysex, track names) must come back as it
was, so the file is kept as (tick, message) lists per track: notes are removed and added in place and
every other event passes through. `window` cuts a few bars out as a `NoteTable` in quarter notes for
the model (the model's context window is an implementation detail, never a cut of the file).
"""

from __future__ import annotations

import io
from bisect import bisect_right
from dataclasses import dataclass, field

import mido
import numpy as np

from ostinato.errors import InvalidInput
from ostinato.midi_scan import scan_midi
from symbolic.attributes import DRUM_PROGRAM, Key, NoteTable

DRUM_CHANNEL = 9
# A bar whose only content is the release tail of the previous bar's notes (performance-timed files end a
# little after the bar line) does not count as a bar of the file.
RELEASE_TOLERANCE_QUARTERS = 0.25

# Inserted events sort before (note-offs) or after (everything else) the file's own events at a tick.
_RANK_INSERTED_OFF, _RANK_EXISTING, _RANK_INSERTED, _RANK_END = 0, 1, 2, 3


@dataclass
class FileNote:
    """One note of the file: where its events are and what it is."""

    track: int
    channel: int
    pitch: int
    velocity: int
    start_tick: int
    end_tick: int
    program: int  # GM program sounding on its channel at the onset, DRUM_PROGRAM on channel 10
    on_index: int  # positions of its note-on / note-off in the track's event list
    off_index: int


@dataclass(frozen=True)
class Part:
    """A (track, channel) pair that holds notes: what users call a track of the file."""

    track: int
    channel: int


@dataclass
class NewNote:
    start_tick: int
    end_tick: int
    pitch: int
    velocity: int


@dataclass
class _Event:
    tick: int
    message: mido.Message | mido.MetaMessage
    rank: int = _RANK_EXISTING


def with_fields(message: mido.Message | mido.MetaMessage, **fields: int) -> mido.Message | mido.MetaMessage:
    """A copy of an already-checked message with some integer fields replaced (delta time, velocity),
    each within its own range. mido's `copy(...)` checks every field again, which costs seconds on a
    file at the event limit."""
    copied = object.__new__(type(message))
    vars(copied).update(vars(message))
    vars(copied).update(fields)
    return copied


@dataclass
class MidiEventFile:
    """Tracks as absolute-tick event lists; notes indexed once and edited in place."""

    ticks_per_quarter: int
    file_type: int
    tracks: list[list[_Event]]
    notes: list[FileNote] = field(default_factory=list)
    _removed: set[tuple[int, int]] = field(default_factory=set)  # (track, event index) dropped on write

    # ---- reading ------------------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, midi: bytes, what: str = "MIDI file") -> "MidiEventFile":
        """Parses SMF bytes; InvalidInput naming what is wrong when they cannot be read."""
        if not midi or bytes(midi[:4]) != b"MThd":
            raise InvalidInput(f"the {what} is not a Standard MIDI File (it must start with 'MThd')")
        scan_midi(bytes(midi))  # cost bounds before mido builds a message object per event
        try:
            parsed = mido.MidiFile(file=io.BytesIO(bytes(midi)), clip=True)
        except (OSError, EOFError, ValueError, KeyError, IndexError) as error:
            raise InvalidInput(f"the {what} could not be read: {error}") from error
        if parsed.type == 2:
            raise InvalidInput(f"the {what} is a type 2 MIDI file (independent sequences); use type 0 or 1")
        if not isinstance(parsed.ticks_per_beat, int) or parsed.ticks_per_beat <= 0:
            raise InvalidInput(f"the {what} uses SMPTE time division; only ticks per quarter note are supported")
        tracks: list[list[_Event]] = []
        for track in parsed.tracks:
            tick = 0
            events = []
            for message in track:
                tick += message.time
                events.append(_Event(tick, message))
            tracks.append(events)
        result = cls(parsed.ticks_per_beat, parsed.type, tracks)
        result._index_notes()
        return result

    def _index_notes(self) -> None:
        notes: list[FileNote] = []
        for track_index, events in enumerate(self.tracks):
            program = [0] * 16
            open_notes: dict[tuple[int, int], list[tuple[int, int, int, int]]] = {}
            for index, event in enumerate(events):
                message = event.message
                if message.type == "program_change":
                    program[message.channel] = message.program
                elif message.type == "note_on" and message.velocity > 0:
                    sounding = DRUM_PROGRAM if message.channel == DRUM_CHANNEL else program[message.channel]
                    open_notes.setdefault((message.channel, message.note), []).append(
                        (event.tick, index, message.velocity, sounding))
                elif message.type in ("note_off", "note_on"):
                    waiting = open_notes.get((message.channel, message.note))
                    if waiting:  # first in, first out: a re-struck pitch releases its oldest note
                        start, on_index, velocity, sounding = waiting.pop(0)
                        notes.append(FileNote(track_index, message.channel, message.note, velocity, start,
                                              event.tick, sounding, on_index, index))
            end = max((e.tick for e in events), default=0)
            for (channel, pitch), waiting in open_notes.items():  # never released: sounds to the track's end
                for start, on_index, velocity, sounding in waiting:
                    notes.append(FileNote(track_index, channel, pitch, velocity, start, max(end, start + 1),
                                          sounding, on_index, -1))
        notes.sort(key=lambda n: (n.start_tick, n.track, n.pitch))
        self.notes = notes

    # ---- maps ---------------------------------------------------------------------------------
    def _meta(self, kind: str) -> list[_Event]:
        found = [e for events in self.tracks for e in events if e.message.type == kind]
        return sorted(found, key=lambda e: e.tick)

    def tempo_map(self) -> list[tuple[int, float]]:
        """(tick, bpm) of every tempo event; 120 bpm from tick 0 when the file has none."""
        tempos = [(e.tick, mido.tempo2bpm(e.message.tempo)) for e in self._meta("set_tempo")]
        if not tempos or tempos[0][0] > 0:
            tempos.insert(0, (0, 120.0))
        return tempos

    def tempo_at(self, tick: int) -> float:
        tempos = self.tempo_map()
        return round(tempos[max(0, bisect_right([t for t, _ in tempos], tick) - 1)][1], 2)

    def meter_map(self) -> list[tuple[int, tuple[int, int]]]:
        """(tick, (numerator, denominator)) of every meter; 4/4 from tick 0 when the file has none."""
        meters = [(e.tick, (e.message.numerator, e.message.denominator)) for e in self._meta("time_signature")]
        if not meters or meters[0][0] > 0:
            meters.insert(0, (0, (4, 4)))
        deduplicated: list[tuple[int, tuple[int, int]]] = []
        for tick, meter in meters:  # two meters at one tick: the later one holds
            if deduplicated and deduplicated[-1][0] == tick:
                deduplicated[-1] = (tick, meter)
            else:
                deduplicated.append((tick, meter))
        return deduplicated

    def key_signatures(self) -> list[tuple[int, str]]:
        return [(e.tick, e.message.key) for e in self._meta("key_signature")]

    def bar_ticks(self, meter: tuple[int, int]) -> int:
        return int(round(meter[0] * 4 * self.ticks_per_quarter / meter[1]))

    def content_end_tick(self) -> int:
        """Where the music ends: the last note-off, or the end-of-track marker when that is later
        (a file may end with silent bars)."""
        ends = [n.end_tick for n in self.live_notes()]
        ends += [e.tick for events in self.tracks for e in events if e.message.type == "end_of_track"]
        return max(ends, default=0)

    def bars(self, until_tick: int | None = None) -> "BarMap":
        """The file's bar lines from its meter map, up to the end of its content (or `until_tick`)."""
        end = self.content_end_tick() if until_tick is None else until_tick
        tolerance = int(RELEASE_TOLERANCE_QUARTERS * self.ticks_per_quarter)
        meters = self.meter_map()
        starts: list[int] = []
        meter_of_bar: list[tuple[int, int]] = []
        for index, (tick, meter) in enumerate(meters):
            stop = meters[index + 1][0] if index + 1 < len(meters) else None
            length = self.bar_ticks(meter)
            position = tick
            while (stop is None and position < end - tolerance) or (stop is not None and position < stop):
                starts.append(position)
                meter_of_bar.append(meter)
                position += length
            if stop is None:
                break
        if not starts:
            starts, meter_of_bar = [meters[-1][0]], [meters[-1][1]]
        last_meter = meter_of_bar[-1]
        # bars cut short by a meter change mid-bar keep their own length
        ends = starts[1:] + [starts[-1] + self.bar_ticks(last_meter)]
        return BarMap(np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64), meter_of_bar)

    # ---- parts --------------------------------------------------------------------------------
    def live_notes(self) -> list[FileNote]:
        return [n for n in self.notes if (n.track, n.on_index) not in self._removed]

    def parts(self) -> list[Part]:
        """(track, channel) pairs that hold notes, in file order: the file's tracks as users see them."""
        seen: dict[Part, int] = {}
        for note in self.notes:
            part = Part(note.track, note.channel)
            seen[part] = min(seen.get(part, note.on_index), note.on_index)
        return sorted(seen, key=lambda p: (p.track, p.channel))

    def program_at(self, part: Part, tick: int) -> int:
        """The GM program sounding on a part's channel at `tick` (DRUM_PROGRAM on channel 10)."""
        if part.channel == DRUM_CHANNEL:
            return DRUM_PROGRAM
        changes = sorted((e.tick, track_index, order, e.message.program)
                         for track_index, events in enumerate(self.tracks) for order, e in enumerate(events)
                         if e.message.type == "program_change" and e.message.channel == part.channel
                         and e.tick <= tick)
        return changes[-1][3] if changes else 0

    # ---- windows for the model ----------------------------------------------------------------
    def window(self, start_tick: int, end_tick: int, parts: set[Part] | None = None) -> NoteTable:
        """Notes starting in [start_tick, end_tick) as a NoteTable in quarters from `start_tick`
        (durations cut at `end_tick`), optionally only those of `parts`."""
        chosen = [n for n in self.live_notes() if start_tick <= n.start_tick < end_tick
                  and (parts is None or Part(n.track, n.channel) in parts)]
        if not chosen:
            return NoteTable.empty()
        tpq = float(self.ticks_per_quarter)
        onset = np.array([(n.start_tick - start_tick) / tpq for n in chosen])
        duration = np.array([(min(n.end_tick, end_tick) - n.start_tick) / tpq for n in chosen])
        table = NoteTable(onset, np.maximum(duration, 1.0 / tpq), np.array([n.pitch for n in chosen]),
                          np.array([n.program for n in chosen]), np.array([n.velocity for n in chosen]))
        return table.select(np.lexsort((table.pitch, table.onset_q)))

    # ---- editing ------------------------------------------------------------------------------
    def remove(self, notes: list[FileNote]) -> None:
        for note in notes:
            self._removed.add((note.track, note.on_index))
            if note.off_index >= 0:
                self._removed.add((note.track, note.off_index))

    def add_track(self, name: str, channel: int, program: int, tick: int = 0) -> int:
        """Appends a track (a new instrument entering) with its name and program; returns its index."""
        events = [_Event(0, mido.MetaMessage("track_name", name=name), _RANK_INSERTED)]
        if channel != DRUM_CHANNEL:
            events.append(_Event(tick, mido.Message("program_change", channel=channel, program=program),
                                 _RANK_INSERTED))
        events.append(_Event(tick, mido.MetaMessage("end_of_track"), _RANK_END))
        self.tracks.append(events)
        self.file_type = 1  # a type-0 file holds one track: with a second it is written as type 1
        return len(self.tracks) - 1

    def free_channel(self, drums: bool) -> int | None:
        if drums:
            return DRUM_CHANNEL
        used = {n.channel for n in self.notes} | {
            e.message.channel for events in self.tracks for e in events if e.message.type == "program_change"}
        free = [c for c in range(16) if c != DRUM_CHANNEL and c not in used]
        return free[0] if free else None

    def add_notes(self, part: Part, notes: list[NewNote]) -> int:
        """Adds notes to a part, with no overlapping re-strike of one pitch: a new note is dropped when
        the same pitch already sounds on the part at its onset, and ends where the part next strikes that
        pitch. Returns how many were added."""
        existing: dict[int, list[tuple[int, int]]] = {}
        for note in self.live_notes():
            if note.track == part.track and note.channel == part.channel:
                existing.setdefault(note.pitch, []).append((note.start_tick, note.end_tick))
        added = 0
        program = self.program_at(part, min((n.start_tick for n in notes), default=0))
        last_new: dict[int, FileNote] = {}  # per pitch, the latest note added in this call
        for note in sorted(notes, key=lambda n: (n.start_tick, n.pitch)):
            previous = last_new.get(note.pitch)
            if previous is not None and previous.start_tick < note.start_tick < previous.end_tick:
                # a new note re-strikes a new note still sounding: the earlier one ends here
                self.tracks[part.track][previous.off_index].tick = note.start_tick
                existing[note.pitch].remove((previous.start_tick, previous.end_tick))
                previous.end_tick = note.start_tick
                existing[note.pitch].append((previous.start_tick, previous.end_tick))
            spans = existing.setdefault(note.pitch, [])
            if any(start <= note.start_tick < end for start, end in spans):
                continue  # the file's own note sounds here: it stays as it was
            later = [start for start, _ in spans if start > note.start_tick]
            end_tick = min([note.end_tick] + later)
            if end_tick <= note.start_tick:
                continue
            spans.append((note.start_tick, end_tick))
            events = self.tracks[part.track]
            velocity = int(np.clip(note.velocity, 1, 127))
            events.append(_Event(note.start_tick, mido.Message("note_on", channel=part.channel, note=note.pitch,
                                                               velocity=velocity), _RANK_INSERTED))
            events.append(_Event(end_tick, mido.Message("note_off", channel=part.channel, note=note.pitch,
                                                        velocity=0), _RANK_INSERTED_OFF))
            self.notes.append(FileNote(part.track, part.channel, note.pitch, velocity, note.start_tick, end_tick,
                                       program, len(events) - 2, len(events) - 1))
            last_new[note.pitch] = self.notes[-1]
            added += 1
        return added

    def add_meta(self, tick: int, message: mido.MetaMessage) -> None:
        """A tempo / meter / key-signature event in the first track (the conductor track of type 1)."""
        self.tracks[0].append(_Event(tick, message, _RANK_INSERTED))

    # ---- writing ------------------------------------------------------------------------------
    def to_bytes(self, end_tick: int | None = None) -> bytes:
        """The edited file. Untouched events keep their order; `end_tick` moves every track's end."""
        out = mido.MidiFile(type=self.file_type, ticks_per_beat=self.ticks_per_quarter)
        for track_index, events in enumerate(self.tracks):
            kept = [(e.tick, e.rank, order, e.message) for order, e in enumerate(events)
                    if (track_index, order) not in self._removed and e.message.type != "end_of_track"]
            last = max([tick for tick, *_ in kept] + [0])
            ends = [e.tick for e in events if e.message.type == "end_of_track"]
            final = max([last] + ends + ([end_tick] if end_tick is not None else []))
            kept.sort(key=lambda item: (item[0], item[1], item[2]))
            track = mido.MidiTrack()
            previous = 0
            for tick, _, _, message in kept:
                track.append(with_fields(message, time=tick - previous))
                previous = tick
            track.append(mido.MetaMessage("end_of_track", time=final - previous))
            out.tracks.append(track)
        buffer = io.BytesIO()
        out.save(file=buffer)
        return buffer.getvalue()

    def sliced_from(self, tick: int) -> "MidiEventFile":
        """The file from `tick` on, as a file of its own: the state at `tick` (tempo, meter, key,
        programs, controllers, track names) is restated at tick 0 and later events are moved back."""
        state_types = ("set_tempo", "time_signature", "key_signature")
        tracks: list[list[_Event]] = []
        for track_index, events in enumerate(self.tracks):
            live = sorted(((order, e) for order, e in enumerate(events) if (track_index, order) not in self._removed),
                          key=lambda item: (item[1].tick, item[1].rank, item[0]))
            state: dict[tuple, mido.Message | mido.MetaMessage] = {}
            for _, event in live:
                if event.tick >= tick:
                    break
                message = event.message
                if message.type in state_types or message.type == "track_name":
                    state[(message.type,)] = message
                elif message.type == "program_change":
                    state[("program", message.channel)] = message
                elif message.type == "control_change":
                    state[("control", message.channel, message.control)] = message
            restated = [_Event(0, m.copy(time=0)) for m in state.values()]
            released = {n.off_index for n in self.notes if n.track == track_index and n.start_tick < tick}
            later = [_Event(e.tick - tick, e.message, e.rank) for order, e in live
                     if e.tick >= tick and e.message.type != "end_of_track" and order not in released]
            tracks.append(restated + later)
        result = MidiEventFile(self.ticks_per_quarter, self.file_type, tracks)
        result._index_notes()
        return result


@dataclass
class BarMap:
    """Bar lines of a file in ticks, with each bar's meter."""

    start_tick: np.ndarray
    end_tick: np.ndarray
    meter: list[tuple[int, int]]

    def __len__(self) -> int:
        return len(self.start_tick)

    def bar_at(self, tick: int) -> int:
        return max(0, int(np.searchsorted(self.start_tick, tick, side="right")) - 1)

    def same_meter_run(self, bar: int) -> tuple[int, int]:
        """First and last-plus-one bar of the stretch of whole bars in this bar's meter around it."""
        length = self.end_tick[bar] - self.start_tick[bar]

        def same(other: int) -> bool:
            return self.meter[other] == self.meter[bar] and self.end_tick[other] - self.start_tick[other] == length

        first = bar
        while first > 0 and same(first - 1):
            first -= 1
        last = bar + 1
        while last < len(self) and same(last):
            last += 1
        return first, last


def key_signature_name(key: Key) -> str:
    """mido's key-signature name for a key. Church modes are written with their parent major scale's
    signature (D dorian: no sharps or flats, as musicians notate it)."""
    if key.mode == "minor":
        relative_major = (key.tonic_pitch_class + 3) % 12
        fifths = _fifths(relative_major)
        return _MINOR_NAMES[fifths]
    parent = next(pc for pc in range(12) if Key(pc, "major").scale_pitch_classes() == key.scale_pitch_classes())
    return _MAJOR_NAMES[_fifths(parent)]


def key_signature_sharps(key: Key) -> tuple[int, int]:
    """(sharps, tonality) for a key: negative sharps are flats; tonality 1 for minor."""
    if key.mode == "minor":
        return _fifths((key.tonic_pitch_class + 3) % 12), 1
    parent = next(pc for pc in range(12) if Key(pc, "major").scale_pitch_classes() == key.scale_pitch_classes())
    return _fifths(parent), 0


def _fifths(major_tonic_pitch_class: int) -> int:
    """Sharps (positive) or flats (negative) of a major key; F#/Gb is written with six sharps."""
    fifths = (major_tonic_pitch_class * 7) % 12
    return fifths - 12 if fifths > 6 else fifths


_MAJOR_NAMES = {-5: "Db", -4: "Ab", -3: "Eb", -2: "Bb", -1: "F", 0: "C", 1: "G", 2: "D", 3: "A", 4: "E", 5: "B",
                6: "F#"}
_MINOR_NAMES = {-5: "Bbm", -4: "Fm", -3: "Cm", -2: "Gm", -1: "Dm", 0: "Am", 1: "Em", 2: "Bm", 3: "F#m", 4: "C#m",
                5: "G#m", 6: "D#m"}
