"""Training and evaluation data for the trio model: POP909 songs (melody + piano bass line, pop909.py) with a
drum part paired to each song, on the latent grids. Training and evaluation only; the server never
imports this module.

Pairing (POP909 has no drums): each 4/4 song gets one of two drum parts, chosen by its number's hash:
- "drumify": symbolic.groove.drumify on the song's melody and bass (the library's pop groove, kick on the
  bass onsets, hats riding the song's onsets): drums that follow the song's rhythm;
- "gmd": a Groove MIDI Dataset 4/4 beat performance (quantised to sixteenths) laid from the song's first
  downbeat and looped to its end (the grid has no tempo, so the groove plays at the song's tempo):
  real drumming, not tied to the song. Train songs take grooves of the training drummers, held-out songs
  grooves of the held-out drummers (drum_data.HELD_OUT_DRUMMERS).
Songs are held out as in pop909.py (every tenth song). Only 4/4 songs are used (the GMD beats are 4/4).

Windows: 2-bar aligned windows (one-bar hop) where the melody, the bass and the drums each sound; a
note sounding across the window start is heard as a rest, as in data.grid_windows.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symbolic.latent import drum_data, pop909
from symbolic.latent.drum_representation import read_drum_clip
from symbolic.latent.representation import NO_EVENT, NOTE_OFF, NUM_PITCHES, TimeSignature

log = logging.getLogger(__name__)

CACHE_VERSION = 1
METER = TimeSignature(4, 4)
WINDOW_BARS = 2
MIN_GROOVE_BARS = 8


@dataclass(frozen=True)
class TrioSong:
    song: str
    held_out: bool
    drum_source: str  # "drumify" or "gmd"
    melody: np.ndarray
    bass: np.ndarray
    drums: np.ndarray


def drum_source_of(song: str) -> str:
    return "gmd" if hashlib.sha1(song.encode()).digest()[0] % 2 else "drumify"


def gmd_grooves(drum_dir: Path) -> dict[bool, list[np.ndarray]]:
    """4/4 beat performances of at least MIN_GROOVE_BARS bars, by held-out (True) or training drummers."""
    grooves: dict[bool, list[np.ndarray]] = {False: [], True: []}
    for path in sorted(Path(drum_dir).rglob("*.mid")):
        if "beat" not in path.name:
            continue
        relative = path.relative_to(drum_dir)
        try:
            clip = read_drum_clip(path.read_bytes(), max_bars=100_000).clip
        except Exception as error:  # noqa: BLE001 - a broken file is skipped, the rest is used
            log.warning("skipping %s: %s", path, error)
            continue
        if clip.time_signature != METER or clip.num_bars < MIN_GROOVE_BARS:
            continue
        grooves[drum_data.is_held_out(f"{relative}#gmd", drum_data.drummer_of(relative))].append(clip.tokens)
    return grooves


def drumify_grid(melody: np.ndarray, bass: np.ndarray, seed: int) -> np.ndarray:
    """Drums from symbolic.groove.drumify on the two lines, on the drum grid."""
    from symbolic.groove import drumify
    from symbolic.latent.representation import MelodyClip, add_line_track, midi_bytes, new_midi

    midi = new_midi(METER, 120.0, len(melody))
    add_line_track(midi, MelodyClip(melody, METER, 120.0, 0), "melody")
    add_line_track(midi, MelodyClip(bass, METER, 120.0, 33), "bass")
    drums = read_drum_clip(drumify(midi_bytes(midi), style="pop", seed=seed, drums_only=True),
                           max_bars=100_000).clip.tokens
    grid = np.zeros(len(melody), dtype=np.int64)
    grid[:min(len(grid), len(drums))] = drums[:len(grid)]
    return grid


def trio_songs(drum_dir: Path, root: Path | None = None, limit_songs: int | None = None) -> list[TrioSong]:
    grooves = gmd_grooves(drum_dir)
    songs = []
    started = time.monotonic()
    for done, song_dir in enumerate(pop909.song_dirs(root)[:limit_songs], start=1):
        _, lines = pop909._prepare_song(str(song_dir))
        if lines is None or lines.time_signature != METER:
            continue
        held = pop909.is_held_out(lines.song)
        source = drum_source_of(lines.song)
        steps = len(lines.melody)
        if source == "gmd":
            pool = grooves[held]
            groove = pool[int(hashlib.sha1(lines.song.encode()).hexdigest(), 16) % len(pool)]
            drums = np.tile(groove, steps // len(groove) + 1)[:steps]
        else:
            drums = drumify_grid(lines.melody, lines.bass, seed=int(lines.song))
        songs.append(TrioSong(lines.song, held, source, lines.melody, lines.bass, drums))
        if done % 100 == 0:
            log.info("trio: %d songs, %.0f s", done, time.monotonic() - started)
    return songs


def line_window(tokens: np.ndarray) -> np.ndarray:
    """A window of a line grid as the line model reads it: a leading note-off belongs to the previous
    window (see data.grid_windows)."""
    window = tokens.copy()
    sounding = np.flatnonzero(window != NO_EVENT)
    if len(sounding) and window[sounding[0]] == NOTE_OFF:
        window[sounding[0]] = NO_EVENT
    return window


def song_windows(song: TrioSong, bars: int = WINDOW_BARS, hop_bars: int = 1) -> np.ndarray:
    """(N, 3, steps) aligned windows where every part sounds."""
    length = bars * METER.steps_per_bar
    rows = []
    for start in range(0, len(song.melody) - length + 1, hop_bars * METER.steps_per_bar):
        melody, bass, drums = (part[start:start + length] for part in (song.melody, song.bass, song.drums))
        if not ((melody < NUM_PITCHES).any() and (bass < NUM_PITCHES).any() and drums.any()):
            continue
        rows.append(np.stack([line_window(melody), line_window(bass), drums]))
    return np.array(rows, dtype=np.int16).reshape(-1, 3, length)


def prepare(drum_dir: Path, cache_dir: Path | None = None, root: Path | None = None) -> Path:
    """Whole songs (for evaluation) and 2-bar windows (for training) in an .npz; reused when present."""
    from symbolic.latent.data import default_cache_dir

    cache_dir = cache_dir or default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha1(str(Path(drum_dir).resolve()).encode()).hexdigest()[:10]
    path = cache_dir / f"trio_v{CACHE_VERSION}_{key}.npz"
    if path.exists():
        return path
    songs = trio_songs(drum_dir, root)
    windows = [song_windows(song) for song in songs]
    arrays = {
        "songs": np.array([s.song for s in songs]),
        "held_out": np.array([s.held_out for s in songs]),
        "drum_source": np.array([s.drum_source for s in songs]),
        "song_lengths": np.array([len(s.melody) for s in songs]),
        "song_grids": np.concatenate([np.stack([s.melody, s.bass, s.drums]) for s in songs], axis=1).astype(np.int16),
        "windows": np.concatenate(windows),
        "window_songs": np.concatenate([np.full(len(w), i, dtype=np.int32) for i, w in enumerate(windows)]),
    }
    np.savez_compressed(path, **arrays)
    log.info("wrote %s: %d songs, %d windows", path, len(songs), len(arrays["windows"]))
    return path


def load_songs(path: Path, held_out: bool) -> list[TrioSong]:
    data = np.load(path)
    offsets = np.concatenate([[0], np.cumsum(data["song_lengths"])])
    songs = []
    for i, song in enumerate(data["songs"]):
        if bool(data["held_out"][i]) != held_out:
            continue
        grids = data["song_grids"][:, offsets[i]:offsets[i + 1]].astype(np.int64)
        songs.append(TrioSong(str(song), held_out, str(data["drum_source"][i]), *grids))
    return songs


def load_windows(path: Path, held_out: bool) -> np.ndarray:
    """(N, 3, 32) windows of the training (held_out=False) or held-out songs."""
    data = np.load(path)
    mask = data["held_out"][data["window_songs"]] == held_out
    return data["windows"][mask].astype(np.int64)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Prepare the trio model's POP909 + drums data.")
    parser.add_argument("--drum-dir", type=Path, required=True)
    parser.add_argument("--pop909", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    path = prepare(args.drum_dir, root=args.pop909)
    for held in (False, True):
        songs = load_songs(path, held)
        print("held-out" if held else "train", len(songs), "songs,", len(load_windows(path, held)), "windows,",
              {s: sum(x.drum_source == s for x in songs) for s in ("drumify", "gmd")})


if __name__ == "__main__":
    main()
