"""Pictures a person would rather look at than a file listing: piano rolls and waveforms (PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from note_seq.protobuf import music_pb2


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def piano_roll_png(sequence: "music_pb2.NoteSequence", path: Path, title: str = "") -> Path:
    """Draws every note as a bar (pitch against seconds), one colour per instrument."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(12, 4), dpi=100)
    tracks = sorted({(n.instrument, n.program, n.is_drum) for n in sequence.notes})
    colours = plt.get_cmap("tab10")
    for index, (instrument, program, is_drum) in enumerate(tracks):
        notes = [n for n in sequence.notes if (n.instrument, n.program, n.is_drum) == (instrument, program, is_drum)]
        label = "drums" if is_drum else f"program {program}"
        for number, note in enumerate(notes):
            axes.add_patch(plt.Rectangle((note.start_time, note.pitch - 0.4), note.end_time - note.start_time, 0.8,
                                         color=colours(index % 10), alpha=0.85, label=label if number == 0 else None))
    if sequence.notes:
        pitches = [n.pitch for n in sequence.notes]
        axes.set_ylim(min(pitches) - 2, max(pitches) + 2)
        axes.set_xlim(0, max(sequence.total_time, 0.1))
    for signature in sequence.time_signatures:
        axes.axvline(signature.time, color="grey", lw=0.5)
    axes.set_xlabel("seconds")
    axes.set_ylabel("MIDI pitch")
    axes.set_title(title or "piano roll")
    if tracks:
        axes.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def waveform_png(samples: np.ndarray, sample_rate_hz: int, path: Path, title: str = "") -> Path:
    """Draws a waveform envelope (mono mix of the channels) against seconds."""
    plt = _pyplot()
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    figure, axes = plt.subplots(figsize=(12, 3), dpi=100)
    seconds = np.arange(len(mono)) / sample_rate_hz
    step = max(1, len(mono) // 20000)
    axes.plot(seconds[::step], mono[::step], lw=0.4)
    axes.set_xlabel("seconds")
    axes.set_ylim(-1, 1)
    axes.set_title(title or "waveform")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
