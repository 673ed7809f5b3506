"""Small melody clips for the latent tests, built in code as real MIDI files."""

from __future__ import annotations

import io

import pretty_midi


def melody_midi(notes: list[tuple[int, float, float]], *, time_signature: tuple[int, int] = (4, 4),
                tempo_bpm: float = 120.0, program: int = 73,
                extra_tracks: list[tuple[int, bool, list[tuple[int, float, float]]]] = ()) -> bytes:
    """MIDI bytes with a melody from (pitch, start_quarter, end_quarter) and optional further tracks
    given as (program, is_drum, notes)."""
    seconds_per_quarter = 60.0 / tempo_bpm
    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo_bpm)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(*time_signature, 0.0))
    for track_program, is_drum, track_notes in [(program, False, notes), *extra_tracks]:
        instrument = pretty_midi.Instrument(program=track_program, is_drum=is_drum)
        for pitch, start_q, end_q in track_notes:
            instrument.notes.append(pretty_midi.Note(velocity=90, pitch=pitch, start=start_q * seconds_per_quarter,
                                                     end=end_q * seconds_per_quarter))
        midi.instruments.append(instrument)
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


def scale_run(time_signature: tuple[int, int] = (4, 4), bars: int = 2, tonic: int = 62,
              step_q: float = 0.5) -> list[tuple[int, float, float]]:
    """An up-and-down major scale in even notes filling `bars` bars."""
    degrees = [0, 2, 4, 5, 7, 9, 11, 12, 11, 9, 7, 5, 4, 2]
    bar_q = time_signature[0] * 4.0 / time_signature[1]
    count = int(round(bars * bar_q / step_q))
    return [(tonic + degrees[i % len(degrees)], i * step_q, (i + 1) * step_q) for i in range(count)]


def jig(bars: int = 2, tonic: int = 67) -> list[tuple[int, float, float]]:
    """A 6/8 jig figure: quarter-eighth pairs and eighth-note triplets of the beat."""
    figure = [(0, 1.0), (4, 0.5), (7, 0.5), (4, 0.5), (0, 0.5), (2, 1.0), (-1, 0.5), (-3, 0.5), (-1, 0.5), (2, 0.5)]
    notes, time_q = [], 0.0
    while time_q < bars * 3.0 - 1e-9:
        for degree, length in figure:
            if time_q >= bars * 3.0 - 1e-9:
                break
            notes.append((tonic + degree, time_q, time_q + length))
            time_q += length
    return notes


def pop_hook(tonic: int = 64) -> list[tuple[int, float, float]]:
    """A 2-bar syncopated pop hook: off-beat sixteenths, anticipations tied over the beat, a repeated note."""
    figure = [(0, 0.0, 0.75), (0, 0.75, 1.25), (2, 1.25, 1.75), (4, 1.75, 2.5), (7, 2.5, 3.0), (4, 3.0, 3.75),
              (2, 3.75, 4.5), (0, 4.5, 5.0), (-3, 5.0, 5.5), (0, 5.75, 6.5), (2, 6.5, 7.25), (0, 7.25, 8.0)]
    return [(tonic + degree, start, end) for degree, start, end in figure]
