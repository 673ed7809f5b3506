"""Audio -> notes with basic-pitch's shipped ONNX model (no TensorFlow), quantised to a musical grid.

    notes = transcribe(wav_bytes)                                  # TranscribedNotes, times in seconds
    grid = quantise(notes, tempo_bpm=100, steps_per_quarter=4)     # onsets/durations in quarter notes
    midi = notes_to_midi(grid, tempo_bpm=100, time_signature=(4, 4), program=73)

A hummed or sung melody is monophonic: `monophonic=True` keeps one note at a time (the strongest at
each grid onset, each note cut where the next begins), which also drops the octave and fifth ghosts
a voice's harmonics leave in the model's output.

Install (avoids basic-pitch's TensorFlow default): `pip install onnxruntime 'resampy<0.4.3' mir-eval
'setuptools<81'` then `pip install --no-deps basic-pitch==0.4.0`. Without it, MissingAsset.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import tempfile
from dataclasses import dataclass

import numpy as np

from audio_render.audio_io import decode_audio, encode_wav, to_mono
from ostinato.errors import InvalidInput, MissingAsset

MAX_INPUT_S = 300.0
# basic-pitch's defaults, except a shorter minimum note (fast folk runs) and the vocal range limits.
ONSET_THRESHOLD = 0.5
FRAME_THRESHOLD = 0.3
MIN_NOTE_MS = 80.0
MIN_FREQUENCY_HZ = 55.0
MAX_FREQUENCY_HZ = 2_100.0


@dataclass
class TranscribedNotes:
    """Notes as parallel arrays: seconds (or quarter notes once quantised), MIDI pitch, velocity 1-127."""

    onset: np.ndarray
    duration: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray
    unit: str = "s"  # "s" or "quarter"

    def __len__(self) -> int:
        return len(self.pitch)

    def select(self, mask: np.ndarray) -> "TranscribedNotes":
        return TranscribedNotes(self.onset[mask], self.duration[mask], self.pitch[mask], self.velocity[mask], self.unit)


@functools.lru_cache(maxsize=1)
def _model():  # type: ignore[no-untyped-def]
    # basic-pitch warns at import that TensorFlow is absent: expected, its ONNX model is what runs here
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            from basic_pitch import FilenameSuffix, build_icassp_2022_model_path
            from basic_pitch.inference import Model
    except ImportError as error:
        raise MissingAsset("transcription needs basic-pitch: pip install onnxruntime 'resampy<0.4.3' mir-eval "
                           "'setuptools<81' && pip install --no-deps basic-pitch==0.4.0") from error
    return Model(build_icassp_2022_model_path(FilenameSuffix.onnx))


def transcribe(audio: bytes, *, monophonic: bool = True, onset_threshold: float = ONSET_THRESHOLD,
               frame_threshold: float = FRAME_THRESHOLD, min_note_ms: float = MIN_NOTE_MS,
               max_duration_s: float = MAX_INPUT_S) -> TranscribedNotes:
    """Notes heard in a WAV/FLAC recording (times in seconds).

    Raises:
        InvalidInput: undecodable or silent audio. LimitExceeded: longer than max_duration_s.
        MissingAsset: basic-pitch is not installed.
    """
    samples, sample_rate_hz = decode_audio(audio, max_duration_s=max_duration_s)
    mono = to_mono(samples)
    if not np.any(np.abs(mono) > 1e-4):
        raise InvalidInput("the recording is silent: no notes to transcribe")
    model = _model()
    from basic_pitch.inference import predict

    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "input.wav")
        with open(path, "wb") as file:
            file.write(encode_wav(mono, sample_rate_hz))
        with contextlib.redirect_stdout(io.StringIO()):  # basic-pitch prints its progress
            _, _, events = predict(path, model, onset_threshold=onset_threshold, frame_threshold=frame_threshold,
                                   minimum_note_length=min_note_ms, minimum_frequency=MIN_FREQUENCY_HZ,
                                   maximum_frequency=MAX_FREQUENCY_HZ, melodia_trick=True)
    events = sorted(events, key=lambda e: (e[0], e[2]))
    notes = TranscribedNotes(
        np.array([e[0] for e in events], dtype=float), np.array([e[1] - e[0] for e in events], dtype=float),
        np.array([int(e[2]) for e in events], dtype=int),
        np.array([int(np.clip(round(float(e[3]) * 127), 1, 127)) for e in events], dtype=int))
    return _one_voice(notes, tolerance=0.05) if monophonic else notes


def _one_voice(notes: TranscribedNotes, tolerance: float) -> TranscribedNotes:
    """One note at a time: the strongest of the notes starting together, each cut at the next onset."""
    if len(notes) == 0:
        return notes
    notes = _merge_restrikes(notes, gap_s=0.03)
    keep: list[int] = []
    index = 0
    order = np.argsort(notes.onset, kind="stable")
    while index < len(order):
        group = [order[index]]
        while index + len(group) < len(order) and notes.onset[order[index + len(group)]] - notes.onset[group[0]] <= tolerance:
            group.append(order[index + len(group)])
        keep.append(max(group, key=lambda i: (notes.velocity[i] * notes.duration[i], notes.pitch[i])))
        index += len(group)
    keep = _without_overtones(notes, keep)
    chosen = notes.select(np.array(keep))
    # a note sounding over the next onset ends there (overlaps are harmonics or legato)
    ends = np.minimum(chosen.onset + chosen.duration, np.append(chosen.onset[1:], np.inf))
    chosen.duration = np.maximum(ends - chosen.onset, 1e-3)
    return chosen


def _without_overtones(notes: TranscribedNotes, keep: list[int]) -> list[int]:
    """Drops a note that starts while the previous one still sounds, an octave, a twelfth or two
    octaves above it and no louder: the previous note's overtone, not a new note."""
    kept: list[int] = []
    for index in keep:
        if kept:
            previous = kept[-1]
            sounding = notes.onset[index] < notes.onset[previous] + notes.duration[previous] - 0.02
            interval = int(notes.pitch[index]) - int(notes.pitch[previous])
            if sounding and interval in (12, 19, 24) and notes.velocity[index] <= notes.velocity[previous]:
                continue
        kept.append(index)
    return kept


def _merge_restrikes(notes: TranscribedNotes, gap_s: float) -> TranscribedNotes:
    """A same-pitch onset inside (or touching) a sounding note is one sustained note heard twice (a
    breath or vibrato swell): the first note is extended, the second dropped."""
    ends = notes.onset + notes.duration
    last_of_pitch: dict[int, int] = {}  # pitch -> index of the note kept last
    kept_end: dict[int, float] = {}  # index kept -> its (extended) end
    for index in np.argsort(notes.onset, kind="stable").tolist():
        pitch = int(notes.pitch[index])
        previous = last_of_pitch.get(pitch)
        if previous is not None and notes.onset[index] <= kept_end[previous] + gap_s:
            kept_end[previous] = max(kept_end[previous], float(ends[index]))
            continue
        last_of_pitch[pitch] = index
        kept_end[index] = float(ends[index])
    keep = sorted(kept_end, key=lambda i: (notes.onset[i], i))
    merged = notes.select(np.array(keep, dtype=int))
    merged.duration = np.array([kept_end[i] for i in keep]) - merged.onset
    return merged


def quantise(notes: TranscribedNotes, tempo_bpm: float, steps_per_quarter: int = 4) -> TranscribedNotes:
    """Seconds -> quarter notes on a grid of 1/steps_per_quarter; each note lasts at least one step and
    same-pitch notes that land on one step are merged."""
    if notes.unit != "s":
        raise ValueError("quantise takes notes in seconds")
    if not 20 <= tempo_bpm <= 300:
        raise InvalidInput(f"tempo {tempo_bpm:g} bpm is outside 20-300")
    if steps_per_quarter not in (1, 2, 3, 4, 6, 8, 12):
        raise InvalidInput("the grid must be 1, 2, 3, 4, 6, 8 or 12 steps per quarter note")
    step = 1.0 / steps_per_quarter
    onset = np.round(notes.onset * tempo_bpm / 60.0 / step) * step
    end = np.round((notes.onset + notes.duration) * tempo_bpm / 60.0 / step) * step
    duration = np.maximum(end - onset, step)
    grid = TranscribedNotes(onset, duration, notes.pitch.copy(), notes.velocity.copy(), "quarter")
    if len(grid):
        _, first = np.unique(np.round(onset / step).astype(np.int64) * 128 + grid.pitch, return_index=True)
        grid = grid.select(np.sort(first))
    return grid


def notes_to_midi(notes: TranscribedNotes, *, tempo_bpm: float = 120.0, time_signature: tuple[int, int] = (4, 4),
                  program: int = 0, name: str = "transcription") -> bytes:
    """A one-track MIDI file of the notes (quarter notes, or seconds at tempo_bpm)."""
    import symusic

    tpq = 480
    quarters = notes.onset if notes.unit == "quarter" else notes.onset * tempo_bpm / 60.0
    lengths = notes.duration if notes.unit == "quarter" else notes.duration * tempo_bpm / 60.0
    score = symusic.Score(tpq)
    score.tempos.append(symusic.Tempo(0, float(tempo_bpm)))
    score.time_signatures.append(symusic.TimeSignature(0, int(time_signature[0]), int(time_signature[1])))
    track = symusic.Track(name, int(program), False)
    for onset_q, length_q, pitch, velocity in zip(quarters, lengths, notes.pitch, notes.velocity):
        track.notes.append(symusic.Note(int(round(onset_q * tpq)), max(1, int(round(length_q * tpq))), int(pitch),
                                        int(velocity)))
    score.tracks.append(track)
    return bytes(score.dumps_midi())
