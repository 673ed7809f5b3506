"""Reading music21's bundled corpus into plain note tables.

Only collections with a licence that allows our use are read: the Bach chorales and the public-domain
Irish/Scottish ABC books (O'Neill's 1850, Ryan's Mammoth, Aird's Airs). The Essen folk-song
collection is skipped on purpose: its licence is non-commercial.

Each piece becomes a `ParsedPiece`: one time signature, notes in quarter notes measured from the first
*whole* bar (a pickup bar is dropped, a trailing partial bar is trimmed), and a style label.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ABC_COLLECTIONS = ("oneills1850", "ryansMammoth", "airdsAirs")


@dataclass
class ParsedPiece:
    """A piece with one meter, trimmed to whole bars. `notes` columns: start_q, duration_q, pitch, part."""

    name: str
    collection: str
    style: str
    time_signature: tuple[int, int]
    bars: int
    notes: np.ndarray  # float64 (n, 4)
    parts: int


_STYLE_WORDS = {
    "slip jig": "slip jig",
    "slipjig": "slip jig",
    "double jig": "jig",
    "single jig": "jig",
    "jig": "jig",
    "reel": "reel",
    "hornpipe": "hornpipe",
    "clog": "hornpipe",
    "strathspey": "strathspey",
    "highland fling": "strathspey",
    "polka": "polka",
    "waltz": "waltz",
    "march": "march",
    "air": "air",
    "slow air": "air",
}


def style_from_abc(rhythm_field: str, meter: tuple[int, int], slow_hint: bool) -> str:
    """Maps an ABC R: field (or, without one, the meter) to one of our style names."""
    text = rhythm_field.strip().lower()
    for words, style in _STYLE_WORDS.items():
        if words in text:
            return style
    if slow_hint:
        return "air"
    return {
        (6, 8): "jig",
        (9, 8): "slip jig",
        (12, 8): "slide",
        (3, 4): "waltz",
        (2, 4): "polka",
        (4, 4): "reel",
        (2, 2): "reel",
    }.get(meter, "folk")


def split_abc_book(text: str) -> list[str]:
    """Splits an ABC book into tune texts (each starting at its X: line)."""
    tunes = re.split(r"(?m)^(?=X:)", text)
    return [t for t in tunes if t.lstrip().startswith("X:")]


def _field(tune: str, letter: str) -> str:
    match = re.search(rf"(?m)^{letter}:(.*)$", tune)
    return match.group(1).strip() if match else ""


def _bar_quarters(meter: tuple[int, int]) -> float:
    return meter[0] * 4.0 / meter[1]


def _notes_of_part(part, part_index: int) -> list[tuple[float, float, int, int]]:
    out = []
    for element in part.stripTies().flatten().notes:
        start = float(element.offset)
        duration = float(element.quarterLength)
        if duration <= 0:
            continue
        for pitch in element.pitches:
            out.append((start, duration, int(pitch.midi), part_index))
    return out


def _single_meter(score) -> tuple[int, int] | None:
    from music21 import meter as m21meter

    found = {(ts.numerator, ts.denominator) for ts in score.recurse().getElementsByClass(m21meter.TimeSignature)}
    if len(found) != 1:
        return None
    return found.pop()


def _pickup_quarters(part, bar_q: float) -> float:
    measures = list(part.getElementsByClass("Measure"))
    if not measures:
        return 0.0
    first = measures[0]
    length = float(first.duration.quarterLength)
    if first.paddingLeft and first.paddingLeft > 0:
        return float(bar_q - first.paddingLeft)
    if 0 < length < bar_q - 1e-6:
        return length
    return 0.0


def _trim_to_bars(notes: list[tuple[float, float, int, int]], pickup_q: float, bar_q: float):
    if not notes:
        return None, 0
    array = np.array(notes, dtype=np.float64)
    array[:, 0] -= pickup_q
    array = array[array[:, 0] >= -1e-6]
    if len(array) == 0:
        return None, 0
    array[:, 0] = np.maximum(array[:, 0], 0.0)
    end_q = float((array[:, 0] + array[:, 1]).max())
    bars = int(np.floor(end_q / bar_q + 1e-6))
    if bars < 2:
        return None, 0
    array = array[array[:, 0] < bars * bar_q - 1e-6]
    array[:, 1] = np.minimum(array[:, 1], bars * bar_q - array[:, 0])
    order = np.lexsort((array[:, 2], array[:, 0]))
    return array[order], bars


def parse_abc_tune(job: tuple[str, str, str]) -> ParsedPiece | None:
    """Parses one ABC tune text; None when it cannot be used (meter changes, no notes, parse error)."""
    from music21 import converter

    collection, name, tune = job
    rhythm = _field(tune, "R")
    notes_field = (_field(tune, "N") + " " + _field(tune, "Q")).lower()
    try:
        score = converter.parse(tune, format="abc")
    except Exception:  # noqa: BLE001 - music21 raises many exception types on malformed ABC
        return None
    if hasattr(score, "scores"):  # an Opus with one tune
        scores = list(score.scores)
        if not scores:
            return None
        score = scores[0]
    meter = _single_meter(score)
    if meter is None:
        return None
    parts = list(score.parts) or [score]
    bar_q = _bar_quarters(meter)
    pickup = _pickup_quarters(parts[0], bar_q)
    array, bars = _trim_to_bars(_notes_of_part(parts[0], 0), pickup, bar_q)
    if array is None:
        return None
    slow = any(word in notes_field for word in ("slow", "air", "lament"))
    style = style_from_abc(rhythm, meter, slow)
    return ParsedPiece(name, collection, style, meter, bars, array, 1)


def parse_chorale(path: str) -> ParsedPiece | None:
    """Parses one Bach chorale; only four-part chorales with one meter are kept."""
    from music21 import corpus

    try:
        score = corpus.parse(path)
    except Exception:  # noqa: BLE001
        return None
    parts = list(score.parts)
    if len(parts) != 4:
        return None
    meter = _single_meter(score)
    if meter is None:
        return None
    bar_q = _bar_quarters(meter)
    pickup = _pickup_quarters(parts[0], bar_q)
    notes = []
    for index, part in enumerate(parts):
        notes.extend(_notes_of_part(part, index))
    array, bars = _trim_to_bars(notes, pickup, bar_q)
    if array is None:
        return None
    return ParsedPiece(Path(path).stem, "bach", "chorale", meter, bars, array, 4)


def abc_jobs() -> list[tuple[str, str, str]]:
    """Every tune text of the ABC collections we use, as (collection, name, text)."""
    from music21 import corpus

    jobs = []
    for path in corpus.getPaths(fileExtensions=("abc",)):
        collection = Path(str(path)).parent.name
        if collection not in ABC_COLLECTIONS:
            continue
        text = Path(str(path)).read_text(encoding="utf-8", errors="replace")
        for index, tune in enumerate(split_abc_book(text)):
            jobs.append((collection, f"{Path(str(path)).stem}#{index}", tune))
    return jobs


def chorale_paths() -> list[str]:
    from music21 import corpus

    return sorted({str(p) for p in corpus.getComposer("bach") if str(p).endswith((".mxl", ".xml", ".krn"))})


def parse_all(processes: int = 2, budget_s: float = 540.0, log=print) -> list[ParsedPiece]:
    """Parses chorales and ABC tunes with a wall-time budget; tunes not reached in time are skipped."""
    import multiprocessing as mp
    import random

    started = time.monotonic()
    pieces: list[ParsedPiece] = []
    jobs = abc_jobs()
    random.Random(0).shuffle(jobs)  # a time-limited run still samples every collection
    chorales = chorale_paths()
    log(f"{len(chorales)} chorale files, {len(jobs)} ABC tunes; budget {budget_s:.0f} s on {processes} processes")
    with mp.get_context("fork").Pool(processes) as pool:
        for piece in pool.imap_unordered(parse_chorale, chorales, chunksize=4):
            if piece is not None:
                pieces.append(piece)
        log(f"chorales: {len(pieces)} usable after {time.monotonic() - started:.0f} s")
        done = 0
        for piece in pool.imap_unordered(parse_abc_tune, jobs, chunksize=8):
            done += 1
            if piece is not None:
                pieces.append(piece)
            if done % 500 == 0:
                log(f"ABC: {done}/{len(jobs)} tunes read, {len(pieces)} usable pieces, {time.monotonic() - started:.0f} s")
            if time.monotonic() - started > budget_s:
                log(f"budget reached after {done} tunes; the rest is skipped")
                pool.terminate()
                break
    return pieces
