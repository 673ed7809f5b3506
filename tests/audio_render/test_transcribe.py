"""Transcription (basic-pitch's ONNX model): a rendered known melody comes back note for note."""

from __future__ import annotations

import numpy as np
import pytest
import symusic

from audio_render.audio_io import encode_wav
from audio_render.render import RenderOptions, render_midi
from audio_render.transcribe import notes_to_midi, quantise, transcribe

pytest.importorskip("basic_pitch")

TEMPO_BPM = 100.0
# (pitch, onset in quarters, length in quarters): a folk-like phrase with a dotted rhythm and a leap
MELODY = [(67, 0, 1), (69, 1, 0.5), (71, 1.5, 0.5), (72, 2, 1.5), (71, 3.5, 0.5), (69, 4, 1), (67, 5, 1),
          (64, 6, 1), (62, 7, 1), (67, 8, 2), (74, 10, 1), (72, 11, 1)]


def _melody_wav() -> bytes:
    score = symusic.Score(480)
    score.tempos.append(symusic.Tempo(0, TEMPO_BPM))
    track = symusic.Track("melody", 73, False)  # flute
    for pitch, onset, length in MELODY:
        track.notes.append(symusic.Note(int(onset * 480), int(length * 480 * 0.95), pitch, 100))
    score.tracks.append(track)
    options = RenderOptions(soundfont="TimGM6mb", sample_rate_hz=22_050, channels=1, reverb=None, chorus=None)
    audio = render_midi(bytes(score.dumps_midi()), options)
    return encode_wav(audio.samples, audio.sample_rate_hz)


@pytest.fixture(scope="module")
def heard():  # type: ignore[no-untyped-def]
    return transcribe(_melody_wav(), monophonic=True)


def test_rendered_melody_recovered_by_mir_eval(heard) -> None:  # type: ignore[no-untyped-def]
    import mir_eval

    seconds = 60.0 / TEMPO_BPM
    reference_intervals = np.array([[o * seconds, (o + length * 0.95) * seconds] for _, o, length in MELODY])
    reference_hz = np.array([440.0 * 2 ** ((p - 69) / 12) for p, _, _ in MELODY])
    estimated_intervals = np.stack([heard.onset, heard.onset + heard.duration], axis=1)
    estimated_hz = 440.0 * 2 ** ((heard.pitch - 69) / 12)
    precision, recall, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
        reference_intervals, reference_hz, estimated_intervals, estimated_hz, onset_tolerance=0.05, offset_ratio=None)
    assert f1 >= 0.9, (precision, recall, list(zip(heard.onset.round(2), heard.pitch)))


def test_quantised_to_the_grid(heard) -> None:  # type: ignore[no-untyped-def]
    grid = quantise(heard, TEMPO_BPM, steps_per_quarter=4)
    expected = {(o, p) for p, o, _ in MELODY}
    got = {(float(o), int(p)) for o, p in zip(grid.onset, grid.pitch)}
    assert len(expected & got) >= len(MELODY) - 1, sorted(got)
    assert np.allclose(grid.onset * 4, np.round(grid.onset * 4))
    midi = notes_to_midi(grid, tempo_bpm=TEMPO_BPM, program=73)
    score = symusic.Score.from_midi(midi)
    assert score.tracks[0].program == 73 and len(score.tracks[0].notes) == len(grid)


def test_silence_is_refused() -> None:
    from ostinato.errors import InvalidInput

    with pytest.raises(InvalidInput, match="silent"):
        transcribe(encode_wav(np.zeros((22_050, 1), dtype=np.float32), 22_050))
