"""POP909 melody and bass lines on the latent model's sixteenth-note grid (training and evaluation only).

POP909 songs are aligned to their recordings, so seconds do not sit on a fixed tempo grid. The grid
comes from the song's own beat annotation (beat_midi.txt: beat time, 2/4 downbeat flag, 4/4 downbeat
flag): a beat is split into four equal sixteenths, and bars start at the annotated downbeats.

Lines:
- melody: the MELODY track (the vocal line), highest note at a shared onset.
- bass: the lowest voice of the PIANO track. A piano note belongs to it when no lower piano note is
  sounding or starting at its onset; notes at or above MAX_BASS_PITCH are left out (a right-hand
  figure is not a bass line even when the left hand rests). Pitches are kept as played (no octave moves).

Songs are split by number: every tenth song (NNN % 10 == 0) is held out and never trained on.
The server never imports this module; it reads ../shared/data/POP909 only when data is prepared.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symbolic.latent.representation import TimeSignature, notes_to_grid

log = logging.getLogger(__name__)

DEFAULT_ROOT = Path(__file__).resolve().parents[3] / "shared" / "data" / "POP909"
MAX_BASS_PITCH = 60
HELD_OUT_EVERY = 10
CACHE_VERSION = 1
OFF_GRID_STEPS = 0.2  # an onset further than this from a sixteenth is counted as off the grid (triplets)


@dataclass(frozen=True)
class SongLines:
    """One song's lines as whole-song grids (tokens per sixteenth, starting at the first downbeat)."""

    song: str
    time_signature: TimeSignature
    melody: np.ndarray
    bass: np.ndarray
    off_grid_onsets: int  # melody + bass onsets more than OFF_GRID_STEPS from the grid
    onsets: int


def pop909_root() -> Path:
    return Path(os.environ.get("OSTINATO_POP909", DEFAULT_ROOT))


def is_held_out(song: str) -> bool:
    return int(song) % HELD_OUT_EVERY == 0


def _beats(path: Path) -> tuple[np.ndarray, np.ndarray]:
    rows = np.loadtxt(path, ndmin=2)
    return rows[:, 0], rows[:, 2] > 0.5


def bottom_line(notes: list[tuple[int, float, float]], max_pitch: int = MAX_BASS_PITCH) -> list[tuple[int, float, float]]:
    """The lowest voice of a polyphonic part, from (pitch, start, end) in any unit (see the module docstring)."""
    ordered = sorted(notes, key=lambda n: (n[1], n[0]))
    kept = []
    sounding: list[tuple[int, float]] = []  # (pitch, end) of every note started so far and not yet ended
    for pitch, start, end in ordered:
        sounding = [(p, e) for p, e in sounding if e > start + 1e-6]
        lowest_sounding = min((p for p, _ in sounding), default=999)
        sounding.append((pitch, end))
        if pitch < max_pitch and pitch <= lowest_sounding:
            kept.append((pitch, start, end))
    return kept


def song_lines(song_dir: Path) -> SongLines | None:
    """Melody and bass grids of one POP909 song, or None when its beats do not form a regular meter."""
    import pretty_midi

    song = song_dir.name
    beat_times, downbeats = _beats(song_dir / "beat_midi.txt")
    down_index = np.flatnonzero(downbeats)
    if len(beat_times) < 16 or len(down_index) < 4:
        return None
    gaps = np.diff(down_index)
    values, counts = np.unique(gaps, return_counts=True)
    beats_per_bar = int(values[np.argmax(counts)])
    if beats_per_bar not in (3, 4) or counts.max() < 0.8 * len(gaps):
        return None
    first = int(down_index[0])
    beat_numbers = np.arange(len(beat_times), dtype=np.float64)
    tail = beat_times[-1] - beat_times[-2]

    def steps_of(seconds: np.ndarray) -> np.ndarray:
        beats = np.interp(seconds, beat_times, beat_numbers)
        after = seconds > beat_times[-1]
        beats[after] = len(beat_times) - 1 + (seconds[after] - beat_times[-1]) / tail
        return (beats - first) * 4.0

    midi = pretty_midi.PrettyMIDI(str(song_dir / f"{song}.mid"))
    tracks = {instrument.name.upper(): instrument for instrument in midi.instruments}
    if "MELODY" not in tracks or "PIANO" not in tracks:
        return None
    num_steps = int(np.ceil(steps_of(np.array([midi.get_end_time()]))[0])) + 1
    off_grid = onsets = 0
    grids = {}

    def timed(instrument: "pretty_midi.Instrument") -> list[tuple[int, float, float]]:
        pitches = [n.pitch for n in instrument.notes]
        starts = steps_of(np.array([n.start for n in instrument.notes]))
        ends = steps_of(np.array([n.end for n in instrument.notes]))
        return list(zip(pitches, starts.tolist(), ends.tolist()))

    for name, raw in (("melody", timed(tracks["MELODY"])), ("bass", bottom_line(timed(tracks["PIANO"])))):
        notes = []
        for pitch, start, end in raw:
            if start < -0.5:
                continue
            onsets += 1
            off_grid += abs(start - round(start)) > OFF_GRID_STEPS
            start_step = int(round(start))
            notes.append((pitch, start_step, max(int(round(end)), start_step + 1)))
        grids[name] = notes_to_grid(notes, num_steps)
    return SongLines(song, TimeSignature(beats_per_bar, 4), grids["melody"], grids["bass"], off_grid, onsets)


def song_dirs(root: Path | None = None) -> list[Path]:
    root = root or pop909_root()
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.isdigit() and (p / "beat_midi.txt").exists())


def _prepare_song(path: str) -> tuple[str, SongLines | None]:
    try:
        return path, song_lines(Path(path))
    except Exception as error:  # a malformed song file: skip it, keep the rest
        log.warning("skipping %s: %s", path, error)
        return path, None


def prepare(cache_dir: Path, root: Path | None = None, limit_songs: int | None = None) -> Path:
    """Writes melody and bass windows of every song (data.grid_windows) to an .npz in data.load's layout;
    tune keys are "pop909/NNN/melody" and "pop909/NNN/bass". Returns its path (reused when present)."""
    from symbolic.latent.data import grid_windows

    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"pop909_lines_v{CACHE_VERSION}{'' if limit_songs is None else f'_{limit_songs}'}.npz"
    if path.exists():
        return path
    started = time.monotonic()
    rows: list[tuple[str, str, int, np.ndarray]] = []
    off_grid = onsets = skipped = 0
    songs = song_dirs(root)[:limit_songs]
    for done, song_dir in enumerate(songs, start=1):
        _, lines = _prepare_song(str(song_dir))
        if lines is None:
            skipped += 1
            continue
        off_grid += lines.off_grid_onsets
        onsets += lines.onsets
        for kind, grid in (("melody", lines.melody), ("bass", lines.bass)):
            key = f"pop909/{lines.song}/{kind}"
            rows.extend((key, meter, bars, tokens) for meter, bars, tokens in grid_windows(grid, lines.time_signature))
        if done % 100 == 0:
            log.info("pop909: %d/%d songs, %d windows, %.0f s", done, len(songs), len(rows), time.monotonic() - started)
    tune_keys = sorted({row[0] for row in rows})
    tune_index = {key: i for i, key in enumerate(tune_keys)}
    arrays: dict[str, np.ndarray] = {
        "tune_keys": np.array(tune_keys),
        "held_out": np.array([is_held_out(key.split("/")[1]) for key in tune_keys]),
        "off_grid_share": np.array(off_grid / max(onsets, 1)),
    }
    groups: dict[tuple[str, int], list[tuple[int, np.ndarray]]] = {}
    for key, meter, bars, tokens in rows:
        groups.setdefault((meter, bars), []).append((tune_index[key], tokens))
    for (meter, bars), items in groups.items():
        name = f"{meter.replace('/', '_')}__{bars}"
        arrays[f"tokens__{name}"] = np.stack([t for _, t in items])
        arrays[f"tunes__{name}"] = np.array([i for i, _ in items], dtype=np.int32)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npz")
    np.savez_compressed(partial, **arrays)
    partial.replace(path)  # atomic: a second process preparing at the same time never reads half a file
    log.info("wrote %s: %d windows from %d lines (%d songs skipped, %.1f%% onsets off the sixteenth grid) in %.0f s",
             path, len(rows), len(tune_keys), skipped, 100 * off_grid / max(onsets, 1), time.monotonic() - started)
    return path
