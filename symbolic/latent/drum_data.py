"""Training data for the latent drum model: 2- and 4-bar windows of drum performances on the drum grid
(drum_representation.py), in the window-set layout of data.py, cached under .cache/latent/.

Sources (each window's tune key ends with its source, so data.load(kind=...) picks one):
- "#gmd": every .mid/.midi file under a folder of drum MIDI files, e.g. the Groove MIDI Dataset
  (Magenta, CC BY 4.0). Files are split by drummer where the path names one (the GMD layout
  drummerN/sessionM/... or DNSM_xxx folders): drummers HELD_OUT_DRUMMERS are held out whole, so no
  window of their sessions is trained on. Other files are split by a hash of their path.
- "#library": the project's own groove library (symbolic.drums), each groove rendered with fills,
  crashes and ghost notes under several seeds; split by a hash of (groove, seed).

`python -m symbolic.latent.drum_data --drum-dir DIR` prepares and prints the window counts. Training and
evaluation only: the server never imports this module.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from pathlib import Path

import numpy as np

from symbolic.latent import data as latent_data
from symbolic.latent.drum_representation import DrumClip, read_drum_clip
from symbolic.latent.representation import TimeSignature

log = logging.getLogger(__name__)

CACHE_VERSION = 1
HELD_OUT_DRUMMERS = frozenset({4, 5, 6})
LIBRARY_SEEDS = 12
LIBRARY_BARS = 16
_DRUMMER = re.compile(r"^(?:drummer(\d+)|D(\d+)S\d+(?:_\d+)?)$", re.IGNORECASE)


def drummer_of(path: Path) -> int | None:
    for part in path.parts:
        match = _DRUMMER.match(part)
        if match:
            return int(match.group(1) or match.group(2))
    return None


def is_held_out(key: str, drummer: int | None) -> bool:
    if drummer is not None:
        return drummer in HELD_OUT_DRUMMERS
    return latent_data.is_held_out(key)


def drum_windows(tokens: np.ndarray, meter: TimeSignature, min_hits: int = 2) -> list[tuple[str, int, np.ndarray]]:
    """(meter, bars, tokens) windows of a drum grid: 2 bars with a one-bar hop and 4 bars with a two-bar
    hop, each with at least min_hits struck steps and a hit in its first bar."""
    windows = []
    for num_bars, start, length in latent_data.window_spans(tokens.shape[0], meter):
        window = tokens[start:start + length]
        if np.count_nonzero(window) < min_hits or not window[:meter.steps_per_bar].any():
            continue
        windows.append((str(meter), num_bars, window.astype(np.int16)))
    return windows


def _gmd_file(path: str) -> list[tuple[str, str, int, np.ndarray]]:
    from ostinato.errors import OstinatoError

    try:
        clip = read_drum_clip(Path(path).read_bytes(), max_bars=100_000).clip
    except OstinatoError as error:
        log.warning("skipping %s: %s", path, error)
        return []
    return [(meter, bars, tokens) for meter, bars, tokens in drum_windows(clip.tokens, clip.time_signature)]


def library_clips() -> list[tuple[str, DrumClip]]:
    """(key, clip) for every groove of symbolic.drums rendered under LIBRARY_SEEDS seeds."""
    from symbolic.drums import GROOVES, render_groove
    from symbolic.latent.drum_representation import PIECE_OF_KEY, hits_to_grid

    clips = []
    for index, groove in enumerate(GROOVES):
        meter = TimeSignature(*groove.time_signature)
        for seed in range(LIBRARY_SEEDS):
            table = render_groove(groove, LIBRARY_BARS, 110.0, seed=1000 * index + seed)
            hits = [(PIECE_OF_KEY[int(p)], int(round(o * 4))) for o, p in zip(table.onset_q, table.pitch)
                    if int(p) in PIECE_OF_KEY]
            tokens = hits_to_grid(hits, LIBRARY_BARS * meter.steps_per_bar)
            clips.append((f"library/{groove.style}_{index}/{seed}#library", DrumClip(tokens, meter, 110.0)))
    return clips


def prepare(drum_dir: Path, cache_dir: Path | None = None) -> Path:
    """Windows of the drum files under drum_dir plus the groove library, written to an .npz in the layout
    of data.prepare (reused when present); returns its path."""
    drum_dir = Path(drum_dir).resolve()
    cache_dir = cache_dir or latent_data.default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"drum_windows_v{CACHE_VERSION}_{hashlib.sha1(str(drum_dir).encode()).hexdigest()[:10]}.npz"
    if path.exists():
        return path
    files = sorted(p for p in drum_dir.rglob("*") if p.suffix.lower() in (".mid", ".midi"))
    if not files:
        raise FileNotFoundError(f"no MIDI files under {drum_dir}")
    started = time.monotonic()
    rows: list[tuple[str, bool, str, int, np.ndarray]] = []
    for done, file in enumerate(files, start=1):
        relative = file.relative_to(drum_dir)
        key = f"{relative}#gmd"
        held = is_held_out(key, drummer_of(relative))
        rows.extend((key, held, meter, bars, tokens) for meter, bars, tokens in _gmd_file(str(file)))
        if done % 100 == 0 or done == len(files):
            log.info("read %d/%d drum files, %d windows, %.0f s", done, len(files), len(rows),
                     time.monotonic() - started)
    for key, clip in library_clips():
        held = is_held_out(key, None)
        rows.extend((key, held, meter, bars, tokens) for meter, bars, tokens in
                    drum_windows(clip.tokens, clip.time_signature))
    latent_data.write_windows(path, rows)
    log.info("wrote %s: %d windows from %d files in %.0f s", path, len(rows), len(files), time.monotonic() - started)
    return path


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Prepare the latent drum model's windows.")
    parser.add_argument("--drum-dir", type=Path, required=True, help="a folder of drum MIDI files (e.g. GMD)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    path = prepare(args.drum_dir)
    for kind in ("#gmd", "#library"):
        for held_out in (False, True):
            sets = latent_data.load(path, held_out, kind=kind)
            print(kind, "held-out" if held_out else "train",
                  {f"{s.time_signature}x{s.num_bars}": len(s.tokens) for s in sets})


if __name__ == "__main__":
    main()
