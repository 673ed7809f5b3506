"""Training data for the latent model: monophonic folk melodies from music21's corpus, cut into 2- and
4-bar windows on the sixteenth-note grid, cached under .cache/latent/.

Sources: O'Neill's Music of Ireland (1850), Ryan's Mammoth Collection, Aird's Airs and the Nottingham
reels that music21 ships (all public-domain tunes). The Essen folksong collection is left out: its
licence is non-commercial. Tunes are split into train and held-out sets by a hash of the tune, so no
window of a held-out tune is ever seen in training. Transposition (augmentation) happens when batches
are drawn, not here.

`--midi-dir DIR` prepares the melody tracks of your own MIDI files instead (same windows, same split).

This module is for training and evaluation only; the server never imports it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symbolic.latent.representation import (MAX_STEPS, NO_EVENT, NOTE_OFF, NUM_PITCHES, TimeSignature,
                                            notes_to_grid)

log = logging.getLogger(__name__)

COLLECTIONS = ("oneills1850", "ryansMammoth", "airdsAirs", "nottingham-dataset")
WINDOW_BARS = (2, 4)
HELD_OUT_PERCENT = 5
CACHE_VERSION = 1
MIN_PITCH, MAX_PITCH = 21, 108  # transposition keeps lines inside the piano's range (bass lines stay low)


@dataclass
class WindowSet:
    """Windows of one length and meter: tokens (N, steps) int16, tune index per window."""

    time_signature: TimeSignature
    num_bars: int
    tokens: np.ndarray
    tune_ids: np.ndarray


def default_cache_dir() -> Path:
    return Path(os.environ.get("OSTINATO_CACHE", Path(__file__).resolve().parents[2] / ".cache")) / "latent"


def corpus_files() -> list[Path]:
    import music21

    root = Path(music21.common.getCorpusFilePath())
    files: list[Path] = []
    for collection in COLLECTIONS:
        files.extend(sorted((root / collection).glob("*.abc")))
    return files


def _tune_windows(score) -> list[tuple[str, int, np.ndarray]]:
    """(meter, bars, tokens) windows of one music21 score."""
    from music21 import chord, note, stream

    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else [score]
    part = parts[0]
    measures = list(part.getElementsByClass(stream.Measure))
    if not measures:
        return []
    # Consecutive complete bars of one meter form a run; each run is gridded on its own.
    runs: list[tuple[TimeSignature, list]] = []
    current_meter = None
    for measure in measures:
        if measure.timeSignature is not None:
            current_meter = measure.timeSignature
        if current_meter is None:
            continue
        meter = TimeSignature(current_meter.numerator, current_meter.denominator)
        if meter.denominator not in (2, 4, 8) or meter.steps_per_bar < 6:
            runs.append((meter, []))
            continue
        complete = abs(measure.duration.quarterLength - current_meter.barDuration.quarterLength) < 1e-6
        if not complete:
            runs.append((meter, []))
            continue
        if not runs or runs[-1][0] != meter:
            runs.append((meter, []))
        runs[-1][1].append(measure)

    windows = []
    for meter, run in runs:
        if len(run) < min(WINDOW_BARS):
            continue
        steps_per_bar = meter.steps_per_bar
        notes: list[tuple[int, int, int]] = []
        for bar_index, measure in enumerate(run):
            bar_start = bar_index * steps_per_bar
            for element in measure.recurse().notes:
                if element.duration.quarterLength == 0:  # grace note
                    continue
                offset = element.getOffsetInHierarchy(measure)
                start = bar_start + int(round(float(offset) * 4))
                end = bar_start + int(round(float(offset + element.duration.quarterLength) * 4))
                if isinstance(element, chord.Chord):
                    pitch = max(p.midi for p in element.pitches)
                elif isinstance(element, note.Note):
                    pitch = element.pitch.midi
                else:
                    continue
                tie = element.tie.type if element.tie is not None else None
                if tie in ("stop", "continue") and notes and notes[-1][0] == pitch and notes[-1][2] == start:
                    notes[-1] = (pitch, notes[-1][1], max(end, start + 1))
                else:
                    notes.append((pitch, start, max(end, start + 1)))
        windows.extend(grid_windows(notes_to_grid(notes, len(run) * steps_per_bar), meter))
    return windows


def window_spans(num_steps: int, meter: TimeSignature) -> list[tuple[int, int, int]]:
    """(bars, start, length) of the 2-bar (one-bar hop) and 4-bar (two-bar hop) windows of a grid of
    num_steps steps, up to MAX_STEPS steps long."""
    steps_per_bar = meter.steps_per_bar
    spans = []
    for num_bars in WINDOW_BARS:
        length = num_bars * steps_per_bar
        if length > MAX_STEPS:
            continue
        hop = steps_per_bar if num_bars == 2 else 2 * steps_per_bar
        spans.extend((num_bars, start, length) for start in range(0, num_steps - length + 1, hop))
    return spans


def grid_windows(grid: np.ndarray, meter: TimeSignature) -> list[tuple[str, int, np.ndarray]]:
    """2- and 4-bar windows of a gridded melody (hop one bar and two bars) with a note in every bar."""
    steps_per_bar = meter.steps_per_bar
    windows = []
    for num_bars, start, length in window_spans(grid.shape[0], meter):
        window = grid[start:start + length].copy()
        # A note sounding across the window start is heard as a rest (MusicVAE does the same).
        onsets = window < NUM_PITCHES
        if onsets.sum() < 2 * num_bars:
            continue
        if not onsets.reshape(num_bars, steps_per_bar).any(axis=1).all():
            continue
        # A leading note-off belongs to the previous window.
        first = int(np.argmax(window != NO_EVENT))
        if window[first] == NOTE_OFF:
            window[first] = NO_EVENT
        windows.append((str(meter), num_bars, window.astype(np.int16)))
    return windows


def _prepare_midi_file(path: str) -> list[tuple[str, str, int, np.ndarray]]:
    """Windows of the melody track of one MIDI file (see representation.midi_to_clip)."""
    from ostinato.errors import OstinatoError
    from symbolic.latent.representation import midi_to_clip

    try:
        clip = midi_to_clip(Path(path).read_bytes(), max_bars=100_000)
    except OstinatoError as error:
        log.warning("skipping %s: %s", path, error)
        return []
    return [(path, meter, bars, tokens) for meter, bars, tokens in grid_windows(clip.tokens, clip.time_signature)]


def _prepare_file(path: str) -> list[tuple[str, str, int, np.ndarray]]:
    from music21 import converter, stream

    try:
        parsed = converter.parse(path)
    except Exception as error:  # music21's ABC parser fails in many ways on a few tunes
        log.warning("skipping %s: %s", path, error)
        return []
    scores = list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]
    result = []
    for index, score in enumerate(scores):
        tune_key = f"{Path(path).parent.name}/{Path(path).name}#{index}"
        try:
            for meter, bars, tokens in _tune_windows(score):
                result.append((tune_key, meter, bars, tokens))
        except Exception as error:  # a malformed tune: skip it, keep the rest of the file
            log.warning("skipping %s: %s", tune_key, error)
    return result


def is_held_out(tune_key: str) -> bool:
    digest = hashlib.sha1(tune_key.encode()).digest()
    return digest[0] * 100 // 256 < HELD_OUT_PERCENT


def prepare(cache_dir: Path | None = None, workers: int = 2, limit_files: int | None = None,
            midi_dir: Path | None = None) -> Path:
    """Parses the corpus (or every .mid/.midi file under midi_dir) and writes the windows to an .npz;
    returns its path (reused when present)."""
    cache_dir = cache_dir or default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    name = f"melody_windows_v{CACHE_VERSION}{'' if limit_files is None else f'_{limit_files}'}"
    if midi_dir is not None:
        midi_dir = Path(midi_dir).resolve()
        name += "_" + hashlib.sha1(str(midi_dir).encode()).hexdigest()[:10]
    path = cache_dir / f"{name}.npz"
    if path.exists():
        return path
    if midi_dir is not None:
        files = sorted(str(p) for p in midi_dir.rglob("*") if p.suffix.lower() in (".mid", ".midi"))[:limit_files]
        work = _prepare_midi_file
    else:
        files = [str(p) for p in corpus_files()][:limit_files]
        work = _prepare_file
    if not files:
        raise FileNotFoundError(f"no MIDI files under {midi_dir}")
    started = time.monotonic()
    rows: list[tuple[str, str, int, np.ndarray]] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for done, file_rows in enumerate(pool.map(work, files, chunksize=4), start=1):
            rows.extend(file_rows)
            if done % 50 == 0 or done == len(files):
                log.info("prepared %d/%d files, %d windows, %.0f s", done, len(files), len(rows),
                         time.monotonic() - started)
    write_windows(path, [(key, is_held_out(key), meter, bars, tokens) for key, meter, bars, tokens in rows])
    log.info("wrote %s: %d windows in %.0f s", path, len(rows), time.monotonic() - started)
    return path


def write_windows(path: Path, rows: list[tuple[str, bool, str, int, np.ndarray]]) -> None:
    """Writes windows (source key, held out, meter, bars, tokens) to the .npz layout `load` reads:
    the sorted source keys with their held-out flags, and per (meter, bars) the stacked tokens with the
    index of each window's source."""
    keys = sorted({row[0] for row in rows})
    index = {key: i for i, key in enumerate(keys)}
    held_of = {row[0]: row[1] for row in rows}
    arrays: dict[str, np.ndarray] = {"tune_keys": np.array(keys), "held_out": np.array([held_of[k] for k in keys])}
    groups: dict[tuple[str, int], list[tuple[int, np.ndarray]]] = {}
    for key, _, meter, bars, tokens in rows:
        groups.setdefault((meter, bars), []).append((index[key], tokens))
    for (meter, bars), items in groups.items():
        name = f"{meter.replace('/', '_')}__{bars}"
        arrays[f"tokens__{name}"] = np.stack([t for _, t in items])
        arrays[f"tunes__{name}"] = np.array([i for i, _ in items], dtype=np.int32)
    np.savez_compressed(path, **arrays)


def load(path: Path, held_out: bool, kind: str | None = None) -> list[WindowSet]:
    """The train (held_out=False) or held-out windows, grouped by meter and bar count; with `kind`, only
    windows of tunes whose key ends with it (e.g. "/bass" in the POP909 set)."""
    data = np.load(path)
    held = data["held_out"]
    if kind is not None:
        wanted = np.array([str(key).endswith(kind) for key in data["tune_keys"]])
        held = np.where(wanted, held, ~np.asarray(held_out))  # tunes of other kinds fall outside both sets
    sets = []
    for name in data.files:
        if not name.startswith("tokens__"):
            continue
        suffix = name[len("tokens__"):]
        meter_text, bars = suffix.split("__")
        numerator, denominator = (int(x) for x in meter_text.split("_"))
        tunes = data[f"tunes__{suffix}"]
        mask = held[tunes] == held_out
        if mask.sum() == 0:
            continue
        sets.append(WindowSet(TimeSignature(numerator, denominator), int(bars),
                              data[name][mask].astype(np.int64), tunes[mask]))
    return sets


def transpose(tokens: np.ndarray, rng: np.random.Generator, max_shift: int = 6) -> np.ndarray:
    """Random transposition per window within [-5, +6] semitones, kept inside MIN_PITCH..MAX_PITCH."""
    tokens = tokens.copy()
    is_pitch = tokens < NUM_PITCHES
    pitches = np.where(is_pitch, tokens, 0)
    low = np.where(is_pitch, pitches, 1000).min(axis=1)
    high = np.where(is_pitch, pitches, -1).max(axis=1)
    shift = rng.integers(-max_shift + 1, max_shift + 1, size=tokens.shape[0])
    shift = np.clip(shift, MIN_PITCH - low, MAX_PITCH - high)
    shift = np.where(low > high, 0, shift)
    tokens[is_pitch] = (tokens + shift[:, None])[is_pitch]
    return tokens


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Prepare the latent model's melody windows.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit-files", type=int, default=None)
    parser.add_argument("--midi-dir", type=Path, default=None, help="your own MIDI files instead of the corpus")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    path = prepare(workers=args.workers, limit_files=args.limit_files, midi_dir=args.midi_dir)
    for held_out in (False, True):
        sets = load(path, held_out)
        print("held-out" if held_out else "train", {f"{s.time_signature}x{s.num_bars}": len(s.tokens) for s in sets})


if __name__ == "__main__":
    main()
