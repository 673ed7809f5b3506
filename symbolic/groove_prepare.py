"""Performed drum MIDI (timing as played, against the file's own tempo and meter) made ready for the
Groove model's training and evaluation.

    python -m symbolic.groove_prepare --midi DIR --out .cache/groove/performances
    python -m symbolic.groove_prepare --from-git /work/.mirror/florento+MEI-GMD/repo --midi DIR --out ...

Every .mid under DIR with drum notes (GM channel 10) is read against the beat grid its tempo and time
signature give (the Groove MIDI Dataset was played to a click at the file's tempo, so that grid is the
click); a file whose tempo changes is read against its first tempo and skipped when it changes by more
than 1%. The session of a file is the `D<drummer>S<session>` part of its path (the Groove MIDI Dataset's
layout), otherwise its folder: whole sessions are held out (HELD_OUT_SESSIONS, or --held-out), never
single takes of a session another take of which trained the model. `--from-git REPO` first copies the
repository's committed .mid files into DIR (read with `git show`, the repository is not changed).

The cache (uncommitted, under .cache/) holds one .npz per performance and index.json.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np

from symbolic.groove_train import SongNotes, beat_quarters, notes_against_beats

# Four of the 21 sessions of the dataset's copy in the mirror (91 of its 440 files): other drummers'
# days and styles than most of training, three of the four drummers also play in training sessions.
HELD_OUT_SESSIONS = ("D1S3", "D5S2", "D7S3", "D8S1")
_SESSION = re.compile(r"(D\d+S\d+)")


def export_from_git(repository: Path, folder: Path) -> int:
    """Copies every committed .mid file of a git repository (a bare mirror is enough) into `folder`,
    keeping its path. Returns how many were written."""
    names = subprocess.run(["git", "-C", str(repository), "ls-tree", "-r", "HEAD", "--name-only"],
                           check=True, capture_output=True, text=True).stdout.splitlines()
    written = 0
    for name in names:
        if not name.lower().endswith(".mid"):
            continue
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(subprocess.run(["git", "-C", str(repository), "show", f"HEAD:{name}"],
                                          check=True, capture_output=True).stdout)
        written += 1
    return written


def session_of(path: Path, root: Path) -> str:
    relative = str(path.relative_to(root))
    found = _SESSION.search(relative)
    return found.group(1) if found else str(path.parent.relative_to(root))


def read_performance(path: Path, name: str) -> SongNotes | None:
    """The drum notes of one performed file against its click grid (None: no drums, or tempo changes)."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(str(path))
    _, tempi = midi.get_tempo_changes()
    if len(tempi) == 0 or np.ptp(tempi) > 0.01 * tempi[0]:
        return None
    meter = midi.time_signature_changes[0] if midi.time_signature_changes else None
    numerator, denominator = (meter.numerator, meter.denominator) if meter else (4, 4)
    rows = [(0, n.start, n.end - n.start, n.pitch, n.velocity) for inst in midi.instruments if inst.is_drum
            for n in inst.notes]
    if len(rows) < 16:
        return None
    beat_s = 60.0 / float(tempi[0]) * beat_quarters(numerator, denominator)
    beats_per_bar = max(1, int(round(numerator * 4.0 / denominator / beat_quarters(numerator, denominator))))
    end_s = max(r[1] for r in rows) + 2 * beat_s
    beats = np.arange(0.0, end_s, beat_s)
    downbeat = (np.arange(len(beats)) % beats_per_bar) == 0
    return notes_against_beats(name, rows, beats, downbeat, drums=True, meter=(numerator, denominator))


def save(song: SongNotes, path: Path) -> None:
    arrays = {f.name: getattr(song, f.name) for f in fields(song) if isinstance(getattr(song, f.name), np.ndarray)}
    scalars = {k: v for k, v in asdict(song).items() if k not in arrays}
    np.savez_compressed(path, scalars=json.dumps(scalars), **arrays)


def load(path: Path) -> SongNotes:
    with np.load(path) as data:
        values = json.loads(str(data["scalars"]))
        values.update({key: data[key] for key in data.files if key != "scalars"})
    values["meter"] = tuple(values.get("meter", (4, 4)))
    return SongNotes(**values)


def load_performances(cache: Path, held_out: bool) -> list[SongNotes]:
    """The prepared performances of the held-out sessions (held_out=True) or of the others."""
    index = json.loads((cache / "index.json").read_text())
    return [load(cache / entry["file"]) for entry in index["performances"] if entry["held_out"] == held_out]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--midi", type=Path, required=True, help="folder of performed drum MIDI files")
    parser.add_argument("--out", type=Path, default=Path(".cache/groove/performances"))
    parser.add_argument("--from-git", type=Path, help="first copy this git repository's .mid files into --midi")
    parser.add_argument("--held-out", default=",".join(HELD_OUT_SESSIONS), help="sessions kept for evaluation")
    args = parser.parse_args(argv)
    if args.from_git:
        print(f"{export_from_git(args.from_git, args.midi)} files copied from {args.from_git} into {args.midi}")
    held = {s for s in args.held_out.split(",") if s}
    args.out.mkdir(parents=True, exist_ok=True)
    entries, skipped = [], 0
    for path in sorted(args.midi.rglob("*.mid")):
        name = str(path.relative_to(args.midi).with_suffix("")).replace("/", "__")
        song = read_performance(path, name)
        if song is None:
            skipped += 1
            continue
        session = session_of(path, args.midi)
        save(song, args.out / f"{name}.npz")
        entries.append({"file": f"{name}.npz", "source": str(path.relative_to(args.midi)), "session": session,
                        "held_out": session in held, "notes": int(len(song.onset_s))})
    (args.out / "index.json").write_text(json.dumps({"held_out_sessions": sorted(held), "performances": entries},
                                                    indent=1))
    kept = sum(e["held_out"] for e in entries)
    print(f"{len(entries)} performances ({kept} held out, {sum(e['notes'] for e in entries)} notes), "
          f"{skipped} skipped -> {args.out}")


if __name__ == "__main__":
    main()
