"""Renders the beat tracker's training audio with FluidSynth and stores its log-mel frames and beats.

Training-side only. Two kinds of clip (10.24 s each, 16 kHz):

  * POP909 training songs (never the held-out every-10th song of `prepare`): melody, accompaniment and a
    drum-library groove placed on the annotated beats, rendered as separate stems with `prepare`'s
    renderer, at a tempo that is half the time `prepare`'s (factor 0.72-1.5 of the song) and half the
    time drawn log-uniformly from 58-195 bpm; melody and accompaniment programs from any GM instrument
    (drum kits from prepare's list). Each render gives several inputs with the same beats: the drumless
    mix (what the accompanist tracks), the mix with drums, the melody alone, and sometimes the drums alone.
  * click tracks: a GM click (woodblock, claves, side stick, cowbell, hi-hat...) at 55-200 bpm, accented
    downbeats or not, sometimes with a tempo ramp (+-25 %) or a sudden tempo change half-way, sometimes
    under a training song's melody.

Output: DIR/shard_K.npz with `features` (clips, n_mels, frames) float16 (unnormalised log-mel), `beats`
and `downbeats` (clips, 96) padded with NaN / False, `kind` (clips,) and `song` (clips,).

    dev-cpu .venv/bin/python -m audio_render.accompanist.train.beat_data --shard 0 --songs 300 --out .cache/accompanist/beats
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np

from audio_render.accompanist.beat_model import BeatConfig, beat_features
from audio_render.accompanist.train.prepare import (
    CLIP_S, CLIP_SAMPLES, DRUM_KITS, HOLDOUT_EVERY, POP909, RATE_HZ, groove_library, place_groove, read_beats,
    render, song_dirs, window_notes,
)

MAX_BEATS = 96
MIN_BPM, MAX_BPM = 58.0, 195.0
CLICK_SOUNDS = ((False, 115, 84, 77), (True, 0, 76, 77), (True, 0, 75, 75), (True, 0, 37, 37), (True, 0, 56, 56),
                (True, 0, 42, 42), (False, 13, 96, 89), (True, 0, 36, 42))  # (drum?, program, accent key, other key)


def unnormalised_features(audio: np.ndarray) -> np.ndarray:
    """Log-mel of `audio` before the dataset normalisation (mean 0, std 1 in the default config)."""
    return beat_features(audio, RATE_HZ, BeatConfig())


def song_clip(song: Path, midi, rng: random.Random, grooves) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Stems of one clip of a training song at a random tempo, and its beats and downbeats in the clip."""
    tracks = {inst.name.upper(): inst for inst in midi.instruments}
    beat_times, downbeat = read_beats(song)
    song_bpm = 60.0 / float(np.median(np.diff(beat_times)))
    if rng.random() < 0.5:
        factor = rng.uniform(0.72, 1.5)
    else:
        factor = float(np.clip(np.exp(rng.uniform(np.log(MIN_BPM), np.log(MAX_BPM))) / song_bpm, 0.45, 2.8))
    time_scale = 1.0 / factor
    transpose = rng.randint(-5, 6)
    song_end = max(beat_times[-1], midi.get_end_time()) * time_scale
    first_note = min((n.start for inst in midi.instruments for n in inst.notes), default=0.0) * time_scale
    begin_s = first_note + rng.uniform(0, max(0.0, song_end - CLIP_S - first_note))
    scaled_beats = beat_times * time_scale
    reverb = rng.uniform(0.1, 0.7) if rng.random() < 0.6 else None

    def notes(name: str, level: float):
        return window_notes(tracks[name].notes, begin_s, time_scale, transpose, level) if name in tracks else []

    melody = render([(rng.randrange(0, 112), False, notes("MELODY", rng.uniform(0.7, 1.0)))], reverb)
    piano = notes("PIANO", rng.uniform(0.6, 1.0))
    accompaniment_tracks = []
    if rng.random() < 0.6:
        accompaniment_tracks.append((rng.randrange(32, 40), False, [n for n in piano if n[2] < 48]))
        piano = [n for n in piano if n[2] >= 48]
    accompaniment_tracks.append((rng.randrange(0, 104), False, piano))
    if rng.random() < 0.8:
        accompaniment_tracks.append((rng.randrange(0, 104), False, notes("BRIDGE", rng.uniform(0.5, 0.9))))
    accompaniment = render(accompaniment_tracks, reverb)
    groove = rng.choice(grooves)
    drum_notes = [(t - begin_s, t - begin_s + 0.1, key, vel * rng.uniform(0.85, 1.0))
                  for t, key, vel in place_groove(groove, scaled_beats, downbeat, rng) if -0.01 <= t - begin_s < CLIP_S]
    drums = render([(rng.choice(DRUM_KITS), True, drum_notes)], reverb)
    melody *= 10 ** (rng.uniform(-6, 4) / 20)
    drums *= 10 ** (rng.uniform(-8, 2) / 20)
    clip_beats = scaled_beats - begin_s
    inside = (clip_beats >= -0.02) & (clip_beats < CLIP_S)
    return {"melody": melody, "accompaniment": accompaniment, "drums": drums}, clip_beats[inside], downbeat[inside]


def click_beats(rng: random.Random) -> np.ndarray:
    """Beat times of a click track: steady, ramped or with a sudden change half-way."""
    tempo = float(np.exp(rng.uniform(np.log(55.0), np.log(200.0))))
    kind = rng.random()
    times, t = [], rng.uniform(0.0, 60.0 / tempo)
    end_tempo = tempo * rng.uniform(0.75, 1.25) if kind < 0.25 else tempo
    jump_tempo = float(np.exp(rng.uniform(np.log(55.0), np.log(200.0))))
    while t < CLIP_S:
        times.append(t)
        if kind < 0.25:
            current = tempo + (end_tempo - tempo) * t / CLIP_S
        elif kind < 0.4 and t > CLIP_S / 2:
            current = jump_tempo
        else:
            current = tempo
        t += 60.0 / current * (1 + rng.gauss(0, 0.005))
    return np.array(times)


def click_clip(rng: random.Random, melody_of=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    beats = click_beats(rng)
    first = rng.randrange(4)
    downbeat = (np.arange(beats.size) + first) % 4 == 0
    is_drum, program, accent, other = rng.choice(CLICK_SOUNDS)
    accented = rng.random() < 0.7
    notes = [(t, t + 0.08, accent if (d and accented) else other, 115 if (d and accented) else 85)
             for t, d in zip(beats, downbeat)]
    audio = render([(program, is_drum, notes)], rng.uniform(0.1, 0.5) if rng.random() < 0.3 else None)
    if melody_of is not None:
        audio = audio + melody_of * 10 ** (rng.uniform(-12, 0) / 20)
    return audio, beats, downbeat


def pad(values: np.ndarray, fill, dtype) -> np.ndarray:
    out = np.full(MAX_BEATS, fill, dtype=dtype)
    out[: min(MAX_BEATS, values.size)] = values[:MAX_BEATS]
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(".cache/accompanist/beats"))
    parser.add_argument("--shard", type=int, required=True, help="shard number (its own seed and song range)")
    parser.add_argument("--songs", type=int, default=300, help="song clips in this shard")
    parser.add_argument("--clicks", type=int, default=100, help="click-track clips in this shard")
    parser.add_argument("--pop909", type=Path, default=POP909)
    args = parser.parse_args(argv)
    import pretty_midi

    rng = random.Random(1000 + args.shard)
    args.out.mkdir(parents=True, exist_ok=True)
    grooves = groove_library(args.out.parent)
    training = [s for i, s in enumerate(song_dirs(args.pop909)) if i % HOLDOUT_EVERY != 0]
    rng.shuffle(training)
    started = time.time()
    features, beats, downbeats, kinds, names = [], [], [], [], []

    def add(audio: np.ndarray, clip_beats: np.ndarray, clip_downbeat: np.ndarray, kind: str, name: str) -> None:
        if np.sqrt(np.mean(np.square(audio[:CLIP_SAMPLES], dtype=np.float64))) < 2e-3 or clip_beats.size < 4:
            return
        features.append(unnormalised_features(audio[:CLIP_SAMPLES]).astype(np.float16))
        beats.append(pad(clip_beats, np.nan, np.float32))
        downbeats.append(pad(clip_downbeat, False, bool))
        kinds.append(kind)
        names.append(name)

    last_melody = None
    for index in range(args.songs):
        song = training[(args.shard * args.songs + index) % len(training)]
        try:
            midi = pretty_midi.PrettyMIDI(str(song / f"{song.name}.mid"))
            stems, clip_beats, clip_downbeat = song_clip(song, midi, rng, grooves)
        except (KeyError, ValueError, IndexError, OSError) as error:
            print(f"skip {song.name}: {error}", flush=True)
            continue
        rest = stems["melody"] + stems["accompaniment"]
        add(rest, clip_beats, clip_downbeat, "drumless", song.name)
        add(rest + stems["drums"], clip_beats, clip_downbeat, "with_drums", song.name)
        add(stems["melody"], clip_beats, clip_downbeat, "melody", song.name)
        if rng.random() < 0.3:
            add(stems["drums"], clip_beats, clip_downbeat, "drums", song.name)
        last_melody = stems["melody"]
        if index % 25 == 0:
            print(f"shard {args.shard}: {index + 1}/{args.songs} songs, {len(kinds)} inputs, {time.time() - started:.0f} s",
                  flush=True)
    for index in range(args.clicks):
        audio, clip_beats, clip_downbeat = click_clip(rng, last_melody if rng.random() < 0.25 else None)
        add(audio, clip_beats, clip_downbeat, "clicks", "clicks")
    np.savez(args.out / f"shard_{args.shard}.npz", features=np.stack(features), beats=np.stack(beats),
             downbeats=np.stack(downbeats), kind=np.array(kinds), song=np.array(names))
    print(f"shard {args.shard}: {len(kinds)} inputs saved, {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
