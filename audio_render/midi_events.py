"""A Standard MIDI File as a time-ordered list of channel events in seconds, ready for a synth.

Parsing uses mido; timing follows the file's tempo map (every set_tempo in any track of a type-1 file
applies to all tracks, as in every sequencer), and time signatures are kept to report progress in bars.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import mido
import numpy as np

from ostinato.errors import InvalidInput
from ostinato.midi_scan import scan_midi

DRUM_CHANNEL = 9  # "channel 10" in musicians' numbering
DEFAULT_TEMPO_US = 500_000  # 120 bpm, the SMF default

# Event kinds, in the order they are played when they share an instant: controllers first (bank
# select must precede its program change), programs, bends and pressure, then note-offs, then
# note-ons (a program change before the note it sets up; a repeated note released before it is
# struck again).
KIND_CONTROL = 0
KIND_PROGRAM = 1
KIND_PITCH_BEND = 2
KIND_CHANNEL_PRESSURE = 3
KIND_KEY_PRESSURE = 4
KIND_NOTE_OFF = 5
KIND_NOTE_ON = 6

_GM_FAMILIES = (
    "Piano", "Chromatic Percussion", "Organ", "Guitar", "Bass", "Strings", "Ensemble", "Brass",
    "Reed", "Pipe", "Synth Lead", "Synth Pad", "Synth Effects", "Ethnic", "Percussive", "Sound Effects",
)


@dataclass(frozen=True)
class TrackInfo:
    """A track (or, in a type-0 file, a channel) that plays notes.

    Args:
        index: track number in the file (channel number for split type-0 files).
        name: the track name, else a GM family name from its first program, else "Drums".
        channels: MIDI channels (0-15) its notes use.
        note_count: number of notes.
    """

    index: int
    name: str
    channels: tuple[int, ...]
    note_count: int

    @property
    def stem_name(self) -> str:
        return f"{self.index}:{self.name}"


@dataclass
class MidiTimeline:
    """Channel events of a MIDI file in playback order.

    Arrays are parallel, one entry per event: `time_s`, `kind` (KIND_*), `channel` (0-15), `data1`,
    `data2` (pitch bend: data1 is the 14-bit value 0-16383), `part` (index into `parts`, -1 for a
    track that plays no notes; its controls apply to every part that shares the channel).
    """

    time_s: np.ndarray
    kind: np.ndarray
    channel: np.ndarray
    data1: np.ndarray
    data2: np.ndarray
    part: np.ndarray
    parts: list[TrackInfo]
    duration_s: float
    ticks_per_beat: int
    tempo_changes: list[tuple[float, float]] = field(default_factory=list)  # (time_s, bpm)
    bar_starts_s: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def bar_at(self, time_s: float) -> int:
        """1-based bar number sounding at `time_s`."""
        return max(1, int(np.searchsorted(self.bar_starts_s, time_s, side="right")))

    @property
    def bar_count(self) -> int:
        return max(1, int(np.searchsorted(self.bar_starts_s, self.duration_s - 1e-9, side="right")))


def _load(midi_bytes: bytes) -> mido.MidiFile:
    if not midi_bytes:
        raise InvalidInput("The MIDI data is empty: send the bytes of a .mid file.")
    if not midi_bytes.startswith(b"MThd"):
        raise InvalidInput(
            "This is not a Standard MIDI File (it does not start with 'MThd'): send a .mid file."
        )
    scan_midi(midi_bytes)  # cost bounds before mido builds a message object per event
    try:
        midi = mido.MidiFile(file=io.BytesIO(midi_bytes), clip=True)
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as exc:
        detail = str(exc) or f"{type(exc).__name__}: it ends too early or a chunk is malformed"
        raise InvalidInput(f"The MIDI file is damaged and cannot be read ({detail}).") from exc
    if midi.type == 2:
        raise InvalidInput(
            "Type-2 MIDI files (independent sequences) are not supported: export as type 0 or 1."
        )
    if midi.ticks_per_beat <= 0:
        raise InvalidInput("The MIDI file uses SMPTE time division, which is not supported.")
    return midi


def _tempo_map(midi: mido.MidiFile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (change_ticks, seconds_at_change, seconds_per_tick) for each tempo segment."""
    changes: dict[int, int] = {}
    for track in midi.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "set_tempo":
                changes[tick] = msg.tempo  # the last one at a tick wins
    changes.setdefault(0, DEFAULT_TEMPO_US)
    ticks = np.array(sorted(changes), dtype=np.int64)
    sec_per_tick = np.array([changes[t] for t in ticks], dtype=np.float64) / 1e6 / midi.ticks_per_beat
    starts = np.zeros(len(ticks))
    if len(ticks) > 1:
        starts[1:] = np.cumsum(np.diff(ticks) * sec_per_tick[:-1])
    return ticks, starts, sec_per_tick


def _ticks_to_seconds(ticks: np.ndarray, tempo: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    change_ticks, starts, sec_per_tick = tempo
    seg = np.searchsorted(change_ticks, ticks, side="right") - 1
    return starts[seg] + (ticks - change_ticks[seg]) * sec_per_tick[seg]


def _bar_starts(midi: mido.MidiFile, end_tick: int) -> np.ndarray:
    signatures: dict[int, tuple[int, int]] = {}
    for track in midi.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "time_signature":
                signatures[tick] = (msg.numerator, msg.denominator)
    signatures.setdefault(0, (4, 4))
    change_ticks = sorted(signatures)
    bars: list[int] = []
    tick = 0
    for i, change in enumerate(change_ticks):
        numerator, denominator = signatures[change]
        bar_ticks = max(1, round(numerator * midi.ticks_per_beat * 4 / denominator))
        # A signature change inside a bar starts a new bar there (as notation programs do).
        tick = change
        stop = change_ticks[i + 1] if i + 1 < len(change_ticks) else max(end_tick, change + 1)
        while tick < stop:
            bars.append(tick)
            tick += bar_ticks
    return np.array(bars, dtype=np.int64)


def _part_name(track: mido.MidiTrack | None, channels: set[int], first_program: int | None) -> str:
    if track is not None:
        for msg in track:
            if msg.type == "track_name" and msg.name.strip():
                return msg.name.strip()
    if channels == {DRUM_CHANNEL}:
        return "Drums"
    if first_program is not None:
        return _GM_FAMILIES[first_program // 8]
    return "Piano"


def parse_midi(midi_bytes: bytes) -> MidiTimeline:
    """Parses Standard MIDI File bytes into a MidiTimeline.

    Args:
        midi_bytes: a type-0 or type-1 SMF.

    Raises:
        InvalidInput: the bytes are not a readable MIDI file, or a type-2 / SMPTE-timed one.
    """
    midi = _load(midi_bytes)
    tempo = _tempo_map(midi)

    rows: list[tuple[int, int, int, int, int, int, int]] = []  # tick, kind, seq, track, ch, d1, d2
    end_tick = 0
    seq = 0
    for track_index, track in enumerate(midi.tracks):
        tick = 0
        for msg in track:
            tick += msg.time
            seq += 1
            kind = None
            t = msg.type
            if t == "note_on":
                if msg.velocity > 0:
                    kind, d1, d2 = KIND_NOTE_ON, msg.note, msg.velocity
                else:
                    kind, d1, d2 = KIND_NOTE_OFF, msg.note, 0
            elif t == "note_off":
                kind, d1, d2 = KIND_NOTE_OFF, msg.note, 0
            elif t == "control_change":
                kind, d1, d2 = KIND_CONTROL, msg.control, msg.value
            elif t == "program_change":
                kind, d1, d2 = KIND_PROGRAM, msg.program, 0
            elif t == "pitchwheel":
                kind, d1, d2 = KIND_PITCH_BEND, msg.pitch + 8192, 0
            elif t == "aftertouch":
                kind, d1, d2 = KIND_CHANNEL_PRESSURE, msg.value, 0
            elif t == "polytouch":
                kind, d1, d2 = KIND_KEY_PRESSURE, msg.note, msg.value
            if kind is not None:
                rows.append((tick, kind, seq, track_index, msg.channel, d1, d2))
        end_tick = max(end_tick, tick)  # includes end_of_track, like mido's MidiFile.length

    table = np.array(rows, dtype=np.int64).reshape(-1, 7)
    table = table[np.lexsort((table[:, 2], table[:, 1], table[:, 0]))]
    tick_col, kind, _, track_col, channel, data1, data2 = table.T

    # Parts (future stems): one per track that plays notes; a type-0 file is split by channel.
    is_note = kind == KIND_NOTE_ON
    note_tracks = sorted(set(track_col[is_note].tolist()))
    split_by_channel = len(note_tracks) <= 1  # a type-0 file, or one track carrying every part
    part_of: dict[tuple[int, int], int] = {}
    parts: list[TrackInfo] = []
    if split_by_channel:
        for ch in sorted(set(channel[is_note].tolist())):
            first = table[(kind == KIND_PROGRAM) & (channel == ch)]
            name = _part_name(None, {ch}, int(first[0, 5]) if len(first) else None)
            notes = int(np.count_nonzero(is_note & (channel == ch)))
            part_of.update({(t, ch): len(parts) for t in range(len(midi.tracks))})
            parts.append(TrackInfo(ch, name, (ch,), notes))
    else:
        for tr in note_tracks:
            mine = track_col == tr
            chans = set(channel[is_note & mine].tolist())
            first = table[(kind == KIND_PROGRAM) & mine]
            if not len(first):
                first = table[(kind == KIND_PROGRAM) & np.isin(channel, list(chans))]
            name = _part_name(midi.tracks[tr], chans, int(first[0, 5]) if len(first) else None)
            for ch in chans:
                part_of[(tr, ch)] = len(parts)
            parts.append(TrackInfo(tr, name, tuple(sorted(chans)), int(np.count_nonzero(is_note & mine))))
    part = np.array(
        [part_of.get((int(tr), int(ch)), -1) for tr, ch in zip(track_col, channel)], dtype=np.int32
    )
    # Notes (and note-offs) belong to their part; other channel messages are shared by the channel.
    is_note_event = (kind == KIND_NOTE_ON) | (kind == KIND_NOTE_OFF) | (kind == KIND_KEY_PRESSURE)
    part = np.where(is_note_event, part, -1).astype(np.int32)

    time_s = _ticks_to_seconds(tick_col, tempo)
    duration_s = float(_ticks_to_seconds(np.array([end_tick]), tempo)[0])
    change_ticks, _, sec_per_tick = tempo
    tempo_changes = [
        (float(s), 60.0 / (spt * midi.ticks_per_beat))
        for s, spt in zip(_ticks_to_seconds(change_ticks, tempo), sec_per_tick)
    ]
    return MidiTimeline(
        time_s=time_s,
        kind=kind.astype(np.int32),
        channel=channel.astype(np.int32),
        data1=data1.astype(np.int32),
        data2=data2.astype(np.int32),
        part=part,
        parts=parts,
        duration_s=duration_s,
        ticks_per_beat=midi.ticks_per_beat,
        tempo_changes=tempo_changes,
        bar_starts_s=_ticks_to_seconds(_bar_starts(midi, end_tick), tempo),
    )
