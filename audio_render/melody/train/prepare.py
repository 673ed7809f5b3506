"""Builds the embedded melody model's training set: music21 corpus melodies rendered with FluidSynth.

Training-side only (the server never imports this). Each clip is a tune's opening, transposed, at a
random tempo, played by a random General MIDI instrument; its text is built from those attributes
("warm strings, a lively Irish reel at 132 bpm"). Whole tunes are held out for evaluation (every 20th
tune), so the chroma-following score is measured on melodies never seen in training.

Rendering goes through the `fluidsynth -ni -F` CLI in batches (many clips in one MIDI file, separated by
silence, then cut apart), which amortises the SoundFont load.

    nice -n 10 .venv/bin/python -m audio_render.melody.train.prepare --out .cache/melody/data
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

CLIP_S = 10.24
GAP_S = 4.0
RENDER_RATE_HZ = 16_000
STORE_RATE_HZ = 16_000
HOLDOUT_EVERY = 20
TARGET_RMS = 0.08

# (GM program, words a musician would use). Programs are 0-based.
INSTRUMENTS: list[tuple[int, list[str]]] = [
    (0, ["piano", "grand piano", "acoustic piano"]),
    (4, ["electric piano", "rhodes"]),
    (6, ["harpsichord"]),
    (11, ["vibraphone", "vibes"]),
    (13, ["marimba"]),
    (16, ["drawbar organ", "jazz organ"]),
    (19, ["church organ", "pipe organ"]),
    (21, ["accordion"]),
    (24, ["nylon guitar", "classical guitar"]),
    (25, ["steel guitar", "acoustic guitar"]),
    (40, ["violin", "fiddle"]),
    (42, ["cello"]),
    (46, ["harp"]),
    (48, ["strings", "warm strings", "string ensemble"]),
    (52, ["choir", "voices"]),
    (56, ["trumpet", "brass"]),
    (60, ["french horn", "horn"]),
    (65, ["alto sax", "saxophone"]),
    (68, ["oboe"]),
    (71, ["clarinet"]),
    (73, ["flute"]),
    (75, ["pan flute"]),
    (79, ["ocarina"]),
    (80, ["square lead", "chiptune lead"]),
    (81, ["saw lead", "synth lead"]),
    (89, ["warm pad", "synth pad"]),
    (105, ["banjo"]),
    (109, ["bagpipe", "pipes"]),
]

STYLES = {
    "oneills1850": ["Irish folk tune", "Irish dance tune", "traditional Irish melody"],
    "ryansMammoth": ["fiddle tune", "traditional dance tune", "folk reel"],
    "airdsAirs": ["Scottish air", "traditional Scottish melody", "folk air"],
    "chorale": ["Bach chorale", "four-part chorale", "baroque hymn"],
}


@dataclass
class ClipSpec:
    clip_id: str
    tune_id: str
    collection: str
    split: str
    program: int
    transpose: int
    tempo_bpm: float
    text: str


def _tempo_word(tempo_bpm: float) -> str:
    if tempo_bpm < 80:
        return random.choice(["slow", "gentle", "calm"])
    if tempo_bpm < 115:
        return random.choice(["moderate", "relaxed", "walking-pace"])
    return random.choice(["lively", "fast", "upbeat"])


def _text(program_words: list[str], collection: str, tempo_bpm: float) -> str:
    instrument = random.choice(program_words)
    style = random.choice(STYLES[collection])
    tempo = _tempo_word(tempo_bpm)
    form = random.randrange(4)
    if form == 0:
        return f"{instrument}, {tempo} {style} at {round(tempo_bpm)} bpm"
    if form == 1:
        return f"a {tempo} {style} played on {instrument}"
    if form == 2:
        return f"{instrument} solo, {style}, {round(tempo_bpm)} bpm"
    return f"{tempo} {instrument}"


def _notes_of(score) -> list[tuple[float, float, int]]:
    """(onset in quarter notes, duration in quarter notes, MIDI pitch) for every sounding note."""
    notes = []
    for element in score.stripTies().flatten().notes:
        for pitch in getattr(element, "pitches", ()):
            notes.append((float(element.offset), float(element.quarterLength), int(pitch.midi)))
    notes.sort()
    return notes


def collect_tunes(per_collection: dict[str, int], seed: int) -> list[tuple[str, str, list]]:
    """(tune_id, collection, notes) for up to N tunes per collection, parsed with music21."""
    from music21 import corpus

    rng = random.Random(seed)
    tunes: list[tuple[str, str, list]] = []
    for collection, wanted in per_collection.items():
        if collection == "chorale":
            paths = [p for p in corpus.getComposer("bach") if str(p).endswith((".mxl", ".xml", ".krn"))]
        else:
            paths = list(corpus.getWork(collection))
        rng.shuffle(paths)
        count = 0
        for path in paths:
            if count >= wanted:
                break
            try:
                parsed = corpus.parse(str(path))
            except Exception as error:  # a few corpus files do not parse; skip them, say which
                print(f"skip {path}: {error}", flush=True)
                continue
            scores = list(parsed.scores) if hasattr(parsed, "scores") and len(parsed.scores) else [parsed]
            rng.shuffle(scores)
            for index, score in enumerate(scores):
                if count >= wanted:
                    break
                try:
                    notes = _notes_of(score)
                except Exception as error:
                    print(f"skip {path}#{index}: {error}", flush=True)
                    continue
                if len(notes) < 12:
                    continue
                tunes.append((f"{collection}/{Path(path).stem}/{index}", collection, notes))
                count += 1
            print(f"{collection}: {count} tunes", flush=True)
    return tunes


def _write_batch_midi(path: Path, batch: list[tuple[ClipSpec, list]]) -> None:
    import mido

    ticks_per_s = 960  # 480 ticks per beat at the default 120 bpm
    events: list[tuple[int, int, mido.Message]] = []
    for slot, (spec, notes) in enumerate(batch):
        start_s = slot * (CLIP_S + GAP_S)
        seconds_per_quarter = 60.0 / spec.tempo_bpm
        events.append((round(start_s * ticks_per_s), 0, mido.Message("program_change", program=spec.program)))
        first = notes[0][0]
        velocity = random.randint(70, 110)
        for onset_q, duration_q, pitch in notes:
            on_s = (onset_q - first) * seconds_per_quarter
            if on_s >= CLIP_S - 0.05:
                break
            off_s = min(on_s + max(duration_q * seconds_per_quarter * 0.95, 0.05), CLIP_S - 0.02)
            key = min(max(pitch + spec.transpose, 24), 108)
            events.append((round((start_s + on_s) * ticks_per_s), 2, mido.Message("note_on", note=key, velocity=velocity)))
            events.append((round((start_s + off_s) * ticks_per_s), 1, mido.Message("note_off", note=key, velocity=0)))
    events.sort(key=lambda e: (e[0], e[1]))
    track = mido.MidiTrack()
    last = 0
    for tick, _, message in events:
        track.append(message.copy(time=tick - last))
        last = tick
    midi = mido.MidiFile(ticks_per_beat=480)
    midi.tracks.append(track)
    midi.save(path)


def _render_batch(batch: list[tuple[ClipSpec, list]], soundfont: str) -> list[np.ndarray]:
    import soundfile

    from audio_render.chroma import resample

    with tempfile.TemporaryDirectory() as tmp:
        midi_path, wav_path = Path(tmp) / "batch.mid", Path(tmp) / "batch.wav"
        _write_batch_midi(midi_path, batch)
        subprocess.run(
            ["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", str(RENDER_RATE_HZ), "-F", str(wav_path), soundfont,
             str(midi_path)],
            check=True,
            capture_output=True,
        )
        audio, rate = soundfile.read(wav_path, dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    clips = []
    for slot in range(len(batch)):
        start = round(slot * (CLIP_S + GAP_S) * rate)
        clip = mono[start : start + round(CLIP_S * rate)]
        clip = np.pad(clip, (0, round(CLIP_S * rate) - clip.shape[0]))
        clip = resample(clip, rate, STORE_RATE_HZ)
        # Level-normalise: GM programs differ by 20 dB in loudness, the model should not have to learn that.
        rms = float(np.sqrt(np.mean(clip**2))) + 1e-9
        clip = clip * min(TARGET_RMS / rms, 0.95 / (float(np.abs(clip).max()) + 1e-9))
        clips.append(clip.astype(np.float32))
    return clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(".cache/melody/data"))
    parser.add_argument("--tunes", type=int, default=1400, help="total tunes over the four collections")
    parser.add_argument("--variants", type=int, default=2, help="renders per training tune")
    parser.add_argument("--soundfont", default="/usr/share/sounds/sf2/FluidR3_GM.sf2")
    parser.add_argument("--batch", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    random.seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    share = {"oneills1850": 0.36, "ryansMammoth": 0.22, "airdsAirs": 0.25, "chorale": 0.17}
    started = time.time()
    tunes = collect_tunes({name: int(args.tunes * part) for name, part in share.items()}, args.seed)
    print(f"parsed {len(tunes)} tunes in {time.time() - started:.0f} s", flush=True)

    specs: list[tuple[ClipSpec, list]] = []
    for number, (tune_id, collection, notes) in enumerate(tunes):
        split = "test" if number % HOLDOUT_EVERY == 0 else "train"
        for variant in range(1 if split == "test" else args.variants):
            program, words = random.choice(INSTRUMENTS)
            if collection == "chorale":
                tempo = random.uniform(60, 100)
            else:
                tempo = random.uniform(70, 150)
            spec = ClipSpec(
                clip_id=f"{number:05d}_{variant}",
                tune_id=tune_id,
                collection=collection,
                split=split,
                program=program,
                transpose=random.randint(-5, 6),
                tempo_bpm=round(tempo, 1),
                text=_text(words, collection, tempo),
            )
            specs.append((spec, notes))

    audio: list[np.ndarray] = []
    for begin in range(0, len(specs), args.batch):
        audio.extend(_render_batch(specs[begin : begin + args.batch], args.soundfont))
        print(f"rendered {len(audio)}/{len(specs)} clips, {time.time() - started:.0f} s", flush=True)

    for split in ("train", "test"):
        index = [i for i, (spec, _) in enumerate(specs) if spec.split == split]
        stacked = np.stack([audio[i] for i in index])
        peak = np.abs(stacked).max()
        print(f"{split}: {len(index)} clips, peak {peak:.3f}", flush=True)
        np.save(args.out / f"{split}_audio.npy", (np.clip(stacked, -1, 1) * 32767).astype(np.int16))
        with open(args.out / f"{split}_clips.jsonl", "w") as handle:
            for i in index:
                handle.write(json.dumps(asdict(specs[i][0])) + "\n")
    (args.out / "meta.json").write_text(
        json.dumps({"sample_rate_hz": STORE_RATE_HZ, "clip_s": CLIP_S, "seed": args.seed}, indent=2)
    )
    print(f"done in {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
