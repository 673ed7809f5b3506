"""POP909 chord annotations -> the key-relative chord model shipped beside the checkpoint.

    python -m symbolic.pop909 --data ../shared/data/POP909 --out symbolic/pretrained/default/chords.json

Per song: the bar grid from beat_midi.txt (third column marks downbeats), the chord sounding longest
in each bar from chord_midi.txt, and the key at that bar from key_audio.txt. Chords become
(semitones above the tonic, triad quality) and are counted per mode as start, unigram, bigram and
trigram statistics (symbolic.chords.ChordModel reads them). Every 10th song (001, 011, ...) is held
out of the counts; `--report` prints how well the model predicts the held-out songs' next chord.
Training-side code: the server never imports this module.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter, defaultdict
from pathlib import Path

from symbolic.chords import CHORD_MODEL_FILE, ChordModel

_NOTE_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def _pitch_class(name: str) -> int:
    pc = _NOTE_PC[name[0]]
    for accidental in name[1:]:
        pc += {"#": 1, "b": -1}.get(accidental, 0)
    return pc % 12


def triad_quality(label: str) -> str | None:
    """POP909 quality ("maj7/5", "min7", "sus4(b7)", "hdim7") -> maj, min, dim, aug, sus2 or sus4."""
    quality = label.split("/")[0].split("(")[0]
    if quality in ("maj", "maj7", "7", "maj6", "9", "maj9", "11", "13"):
        return "maj"
    if quality in ("min", "min7", "min6", "minmaj7", "min9", "min11"):
        return "min"
    if quality in ("dim", "dim7", "hdim7"):
        return "dim"
    if quality == "aug":
        return "aug"
    if quality in ("sus2", "sus4"):
        return quality
    return None


def read_intervals(path: Path) -> list[tuple[float, float, str]]:
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3:
            rows.append((float(parts[0]), float(parts[1]), parts[2]))
    return rows


def song_bars(song: Path) -> list[tuple[str, str] | None]:
    """Per bar: (mode, chord token "semitones:quality") or None (no chord / no key)."""
    number = song.name
    downbeats = []
    for line in (song / "beat_midi.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and float(parts[2]) == 1.0:
            downbeats.append(float(parts[0]))
    chords = read_intervals(song / "chord_midi.txt")
    keys = read_intervals(song / "key_audio.txt")
    if len(downbeats) < 2 or not chords or not keys:
        return []
    bars: list[tuple[str, str] | None] = []
    for start, end in zip(downbeats, downbeats[1:]):
        overlap: Counter = Counter()
        for chord_start, chord_end, label in chords:
            shared = min(end, chord_end) - max(start, chord_start)
            if shared > 0:
                overlap[label] += shared
        key_label = next((label for key_start, key_end, label in keys if key_start <= start + 1e-3 < key_end),
                         keys[0][2] if start < keys[0][0] else keys[-1][2])
        if not overlap:
            bars.append(None)
            continue
        label = overlap.most_common(1)[0][0]
        if label == "N" or ":" not in label or ":" not in key_label:
            bars.append(None)
            continue
        root_name, quality_label = label.split(":", 1)
        tonic_name, mode_label = key_label.split(":", 1)
        quality = triad_quality(quality_label)
        if quality is None:
            bars.append(None)
            continue
        mode = "major" if mode_label.startswith("maj") else "minor"
        degree = (_pitch_class(root_name) - _pitch_class(tonic_name)) % 12
        bars.append((mode, f"{degree}:{quality}"))
    del number
    return bars


def held_out(song: Path) -> bool:
    return song.name.isdigit() and int(song.name) % 10 == 1


def count(songs: list[Path]) -> dict:
    stats: dict = {mode: {"start": Counter(), "unigram": Counter(), "bigram": defaultdict(Counter),
                          "trigram": defaultdict(Counter), "end": Counter()} for mode in ("major", "minor")}
    for song in songs:
        run: list[str] = []
        run_mode = None

        def flush() -> None:
            if len(run) >= 2 and run_mode is not None:
                table = stats[run_mode]
                table["start"][run[0]] += 1
                table["end"][run[-1]] += 1
                for index, token in enumerate(run):
                    table["unigram"][token] += 1
                    if index >= 1:
                        table["bigram"][run[index - 1]][token] += 1
                    if index >= 2:
                        table["trigram"][run[index - 2] + " " + run[index - 1]][token] += 1

        for bar in song_bars(song):
            if bar is None or (run_mode is not None and bar[0] != run_mode):
                flush()
                run, run_mode = [], None
                if bar is None:
                    continue
            run_mode = bar[0]
            run.append(bar[1])
        flush()
    return {mode: {name: (dict(value) if not isinstance(value, defaultdict) else {k: dict(v) for k, v in value.items()})
                   for name, value in table.items()} for mode, table in stats.items()}


def report(model: ChordModel, songs: list[Path]) -> dict:
    """Held-out next-chord accuracy (argmax) and perplexity of the interpolated model, and the same
    for a unigram baseline."""
    hits = total = 0
    log_loss = 0.0
    base_hits = 0
    for song in songs:
        bars = [bar for bar in song_bars(song)]
        for index in range(2, len(bars)):
            window = bars[index - 2:index + 1]
            if any(bar is None for bar in window) or len({bar[0] for bar in window}) != 1:
                continue
            mode = window[0][0]
            distribution = model.next_distribution(mode, [window[0][1], window[1][1]])
            target = window[2][1]
            total += 1
            hits += int(max(distribution, key=distribution.get) == target)
            log_loss -= math.log(max(distribution.get(target, 0.0), 1e-6))
            unigram = model.tables[mode]["unigram"]
            base_hits += int(max(unigram, key=unigram.get) == target)
    return {"transitions": total, "next_chord_accuracy": hits / max(total, 1),
            "perplexity": math.exp(log_loss / max(total, 1)), "unigram_baseline_accuracy": base_hits / max(total, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/POP909"))
    parser.add_argument("--out", type=Path, default=Path("symbolic/pretrained/default") / CHORD_MODEL_FILE)
    parser.add_argument("--top", type=int, default=24, help="chords kept per mode (the rest are dropped)")
    args = parser.parse_args(argv)
    songs = sorted(path for path in args.data.iterdir() if path.is_dir() and path.name.isdigit())
    training = [song for song in songs if not held_out(song)]
    testing = [song for song in songs if held_out(song)]
    tables = count(training)
    for table in tables.values():  # keep the commonest chords only: a small, musical vocabulary
        keep = {token for token, _ in Counter(table["unigram"]).most_common(args.top)}
        table["unigram"] = {k: v for k, v in table["unigram"].items() if k in keep}
        table["start"] = {k: v for k, v in table["start"].items() if k in keep}
        table["end"] = {k: v for k, v in table["end"].items() if k in keep}
        table["bigram"] = {a: {b: n for b, n in row.items() if b in keep} for a, row in table["bigram"].items() if a in keep}
        table["trigram"] = {ab: {c: n for c, n in row.items() if c in keep} for ab, row in table["trigram"].items()
                            if all(part in keep for part in ab.split())}
    model = ChordModel(tables, {"source": "POP909 chord_midi.txt + key_audio.txt + beat_midi.txt (MIT)",
                                "training_songs": len(training), "held_out_songs": [s.name for s in testing]})
    model.meta["held_out"] = report(model, testing)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(json.dumps(model.meta["held_out"], indent=1))
    print(f"{len(training)} training songs, {len(testing)} held out -> {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
