"""MIDI bytes <-> NoteTable <-> symusic Score <-> note-seq NoteSequence conversions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import symusic

from ostinato.errors import InvalidInput
from ostinato.midi_scan import scan_midi
from symbolic.attributes import DRUM_PROGRAM, Key, NoteTable
from symbolic.instruments import program_name
from symbolic.midi_file import key_signature_sharps

TICKS_PER_QUARTER = 480


@dataclass
class Clip:
    """A clip in our own terms: notes, one meter and one tempo."""

    table: NoteTable
    time_signature: tuple[int, int]
    tempo_bpm: float
    bars: int | None = None
    track_programs: list[int] | None = None  # program of each track in file order (-1 = drums)


KeyChanges = Key | list[tuple[float, Key]] | None


def table_to_score(table: NoteTable, time_signature: tuple[int, int], tempo_bpm: float,
                   tpq: int = TICKS_PER_QUARTER, bars: int | None = None, key: KeyChanges = None) -> symusic.Score:
    """One track per program (drums last), the given meter and tempo at tick 0.

    With `bars`, an "end" marker at the end of the last bar keeps trailing silent bars in the file.
    `key`: a key-signature event at tick 0 for a Key, or one per (onset in quarters, Key) for key
    changes. A pitch struck again while it still sounds on the same track ends where it is re-struck
    (MIDI cannot tell which of two overlapping same-pitch notes a note-off ends).
    """
    score = symusic.Score(tpq)
    if bars is not None:
        bar_ticks = int(round(time_signature[0] * 4.0 / time_signature[1] * tpq))
        score.markers.append(symusic.TextMeta(bars * bar_ticks, "end"))
    score.tempos.append(symusic.Tempo(0, float(tempo_bpm)))
    score.time_signatures.append(symusic.TimeSignature(0, int(time_signature[0]), int(time_signature[1])))
    for onset_q, each in ([(0.0, key)] if isinstance(key, Key) else key or []):
        sharps, tonality = key_signature_sharps(each)
        score.key_signatures.append(symusic.KeySignature(int(round(onset_q * tpq)), sharps, tonality))
    programs = sorted({int(p) for p in table.program}, key=lambda p: (p == DRUM_PROGRAM, p))
    velocities = table.velocity if table.velocity is not None else np.full(len(table), 90)
    for program in programs:
        is_drum = program == DRUM_PROGRAM
        track = symusic.Track(program_name(program), 0 if is_drum else program, is_drum)
        indexes = np.nonzero(table.program == program)[0]
        starts = np.round(table.onset_q[indexes] * tpq).astype(np.int64)
        ends = starts + np.maximum(1, np.round(table.duration_q[indexes] * tpq).astype(np.int64))
        for start, end, index in _without_restrikes(starts, ends, table.pitch[indexes], indexes):
            track.notes.append(symusic.Note(int(start), int(end - start), int(table.pitch[index]),
                                            int(velocities[index])))
        score.tracks.append(track)
    return score


def _without_restrikes(starts: np.ndarray, ends: np.ndarray, pitches: np.ndarray,
                       indexes: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, end, index) of one track's notes in time order: a note ends where its pitch is struck
    again; of two notes struck together on one pitch the longer stays."""
    order = np.lexsort((-ends, starts, pitches))
    notes: list[tuple[int, int, int]] = []
    for position in order:
        start, end, pitch = int(starts[position]), int(ends[position]), int(pitches[position])
        if notes and int(pitches[notes[-1][2]]) == pitch:
            last_start, last_end, last_position = notes[-1]
            if start == last_start:
                continue
            if start < last_end:
                notes[-1] = (last_start, start, last_position)
        notes.append((start, end, position))
    notes.sort(key=lambda note: (note[0], int(pitches[note[2]])))
    return [(start, end, int(indexes[position])) for start, end, position in notes]


def score_to_clip(score: symusic.Score) -> Clip:
    """Flattens a Score; the first time signature and tempo stand for the whole clip."""
    quarter = score.to("quarter")
    onsets, durations, pitches, programs, velocities = [], [], [], [], []
    track_programs = []
    for track in quarter.tracks:
        program = DRUM_PROGRAM if track.is_drum else int(track.program)
        track_programs.append(program)
        notes = track.notes.numpy()
        onsets.append(notes["time"])
        durations.append(notes["duration"])
        pitches.append(notes["pitch"])
        velocities.append(notes["velocity"])
        programs.append(np.full(len(notes["pitch"]), program))
    if onsets:
        table = NoteTable(
            np.concatenate(onsets).astype(float), np.concatenate(durations).astype(float),
            np.concatenate(pitches).astype(int), np.concatenate(programs).astype(int),
            np.concatenate(velocities).astype(int))
        order = np.lexsort((table.pitch, table.onset_q))
        table = table.select(order)
    else:
        table = NoteTable.empty()
    time_signature = (4, 4)
    if len(quarter.time_signatures):
        first = quarter.time_signatures[0]
        time_signature = (int(first.numerator), int(first.denominator))
    # MIDI stores whole microseconds per quarter: 90 bpm reads back as 90.00009; keep 0.01 bpm
    tempo_bpm = round(float(quarter.tempos[0].qpm), 2) if len(quarter.tempos) else 120.0
    bar_q = time_signature[0] * 4.0 / time_signature[1]
    end_q = max(float(quarter.end()), float((table.onset_q + table.duration_q).max()) if len(table) else 0.0)
    bars = max(1, int(np.ceil(end_q / bar_q - 1e-6))) if end_q > 0 else None
    return Clip(table, time_signature, tempo_bpm, bars=bars, track_programs=track_programs)


def midi_to_clip(midi: bytes) -> Clip:
    """Reads Standard MIDI File bytes; InvalidInput when they are not a readable MIDI file."""
    if not midi or not bytes(midi[:4]) == b"MThd":
        raise InvalidInput("the MIDI data is not a Standard MIDI File (it must start with 'MThd')")
    scan_midi(midi)  # cost bounds (ticks, events, notes...) before symusic allocates anything
    try:
        score = symusic.Score.from_midi(bytes(midi))
    except Exception as error:  # noqa: BLE001 - symusic raises RuntimeError/ValueError on bad files
        raise InvalidInput(f"the MIDI file could not be read: {error}") from error
    return score_to_clip(score)


def table_to_midi(table: NoteTable, time_signature: tuple[int, int], tempo_bpm: float,
                  bars: int | None = None, key: KeyChanges = None) -> bytes:
    """A type-1 Standard MIDI File of the table; see table_to_score for `bars` and `key`."""
    return bytes(table_to_score(table, time_signature, tempo_bpm, bars=bars, key=key).dumps_midi())


def clip_to_note_sequence(clip: Clip, sequence=None):  # type: ignore[no-untyped-def]
    """The clip as a NoteSequence: times in seconds at the clip's tempo, one instrument per program
    (drums last), total_time at least the clip's bars.

    Args:
        sequence: an empty NoteSequence message to fill (the wire's own class, protos.third_party, in
            the server); None for one of the note_seq package's.
    """
    if sequence is None:
        from note_seq.protobuf import music_pb2

        sequence = music_pb2.NoteSequence()
    sequence.ticks_per_quarter = TICKS_PER_QUARTER
    sequence.tempos.add(time=0.0, qpm=float(clip.tempo_bpm))
    numerator, denominator = clip.time_signature
    sequence.time_signatures.add(time=0.0, numerator=numerator, denominator=denominator)
    seconds_per_quarter = 60.0 / clip.tempo_bpm
    table = clip.table
    programs = sorted({int(p) for p in table.program}, key=lambda p: (p == DRUM_PROGRAM, p))
    instrument_of = {program: index for index, program in enumerate(programs)}
    velocities = table.velocity if table.velocity is not None else np.full(len(table), 90)
    end_s = 0.0
    for index in range(len(table)):
        program = int(table.program[index])
        start_s = float(table.onset_q[index]) * seconds_per_quarter
        stop_s = start_s + float(table.duration_q[index]) * seconds_per_quarter
        sequence.notes.add(
            pitch=int(table.pitch[index]), velocity=int(velocities[index]), start_time=start_s, end_time=stop_s,
            instrument=instrument_of[program], program=0 if program == DRUM_PROGRAM else program,
            is_drum=program == DRUM_PROGRAM)
        end_s = max(end_s, stop_s)
    if clip.bars is not None:
        end_s = max(end_s, clip.bars * numerator * 4.0 / denominator * seconds_per_quarter)
    sequence.total_time = end_s
    return sequence


def midi_to_note_sequence(midi: bytes):
    """Parses MIDI bytes into a NoteSequence (InvalidInput for unreadable data)."""
    return clip_to_note_sequence(midi_to_clip(midi))
