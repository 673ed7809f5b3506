"""Renders exact stem pairs from POP909 with FluidSynth and stores them as codec tokens.

Training-side only. For each clip (10.24 s of a song, random tempo, transposition, GM programs, drum
kit, levels and a little reverb) three parts are rendered separately, so the stems are exact:

  * melody: the POP909 MELODY track in a voice-like timbre (choir aahs, voice oohs, synth voice) or a
    lead instrument;
  * accompaniment: the BRIDGE and PIANO tracks with random programs, the piano's low notes split off
    to a bass with probability 0.6;
  * drums: a 4/4 groove of the project's drum-groove library (written by `python -m symbolic.drums`,
    read back as MIDI, so no cross-package import) placed on the song's annotated beats, so the drums
    follow the song's tempo drift; a random GM drum kit. Notes between the beats (the "and"s and
    sixteenths) are played softer than the notes on the beat, by a random factor per clip
    (`--offbeat-level`, default 0.35-0.6 of their velocity), as a drummer accents the pulse: with the
    library's even velocities a beat tracker heard the eighth-note hi-hats as the beat in about half
    the clips (the drums' own pulse was ambiguous), and the model learns the pulse it is shown.

A folder of your own stems trains with the same scripts: `--stems DIR` reads DIR/drums + DIR/rest
and/or DIR/melody + DIR/backing (WAV/FLAC files paired by name), cuts them into 10.24 s clips, and uses
beats tracked in the input as the beat annotation (every 10th clip held out).

Pairs: drums task input = melody + accompaniment, target = drums; backing task input = melody,
target = accompaniment. About 8 % of drum clips replace the accompaniment by a woodblock click on
the beats (so a click track is not out of distribution). Every 10th song is held out: its clips keep
their audio and chord annotations for the evaluation.

    train-cpu .venv/bin/python -m audio_render.accompanist.train.prepare --out .cache/accompanist/data
    train-cpu .venv/bin/python -m audio_render.accompanist.train.prepare --stems my_stems --out .cache/my_stems
"""

from __future__ import annotations

import argparse
import io
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CLIP_S = 10.24
RATE_HZ = 16_000
CLIP_SAMPLES = int(round(CLIP_S * RATE_HZ))
HOLDOUT_EVERY = 10
POP909 = Path(__file__).resolve().parents[4] / "shared" / "data" / "POP909"
SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
VOICE_PROGRAMS = (52, 53, 54, 85)
LEAD_PROGRAMS = (73, 40, 65, 56, 71, 78, 79, 80, 4, 11, 22, 68)
PIANO_PROGRAMS = (0, 1, 2, 4, 5, 6, 7, 16, 17, 19, 24, 25, 26, 27, 46, 48, 88, 89, 90)
BRIDGE_PROGRAMS = (48, 49, 50, 52, 61, 56, 89, 91, 11, 24, 0, 21, 71)
BASS_PROGRAMS = (32, 33, 34, 35, 38, 39)
DRUM_KITS = (0, 8, 16, 24, 25, 32, 40)
WOODBLOCK = 115


def song_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / f"{p.name}.mid").is_file())


def read_beats(song: Path) -> tuple[np.ndarray, np.ndarray]:
    rows = np.loadtxt(song / "beat_midi.txt", ndmin=2)
    return rows[:, 0], rows[:, 2] > 0.5


def read_chords(song: Path) -> list[tuple[float, float, str]]:
    chords = []
    for line in (song / "chord_midi.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3:
            chords.append((float(parts[0]), float(parts[1]), parts[2]))
    return chords


def groove_library(cache: Path) -> list[list[tuple[float, int, int]]]:
    """(quarter onset, drum key, velocity) lists of the 4/4 grooves (32 bars each, with fills)."""
    out = cache / "grooves"
    if not any(out.glob("*_4-4_*.mid")):
        subprocess.run([sys.executable, "-m", "symbolic.drums", "--out", str(out), "--bars", "32"], check=True,
                       stdout=subprocess.DEVNULL)
    import pretty_midi

    grooves = []
    for path in sorted(out.glob("*_4-4_*.mid")):
        midi = pretty_midi.PrettyMIDI(str(path))
        notes = [n for inst in midi.instruments for n in inst.notes]
        grooves.append(sorted((float(midi.time_to_tick(n.start)) / midi.resolution, n.pitch, n.velocity) for n in notes))
    return grooves


def accent_beats(groove: list[tuple[float, int, int]], offbeat_level: float) -> list[tuple[float, int, int]]:
    """The groove with every note off the beat (more than a tenth of a quarter from it; the library's
    timing is humanised) at offbeat_level of its velocity."""
    out = []
    for onset_q, key, velocity in groove:
        off_beat = abs(onset_q - round(onset_q)) > 0.1
        out.append((onset_q, key, velocity * offbeat_level if off_beat else velocity))
    return out


def place_groove(groove: list[tuple[float, int, int]], beat_times: np.ndarray, downbeat: np.ndarray,
                 rng: random.Random) -> list[tuple[float, int, int]]:
    """Groove notes at song times: quarter q of the groove lands on beat (first downbeat + q)."""
    first = int(np.flatnonzero(downbeat)[0]) if downbeat.any() else 0
    index = np.arange(beat_times.size, dtype=np.float64)
    period = float(np.median(np.diff(beat_times)))
    span_q = groove[-1][0] + 1 if groove else 1
    bars_q = 4 * int(np.ceil(span_q / 4))
    offset_q = 4 * rng.randrange(max(1, int(bars_q // 4)))  # start somewhere inside the 32 bars
    notes = []
    q = -float(first)
    while first + q < beat_times.size + 4:
        for onset_q, key, velocity in groove:
            song_q = q + ((onset_q - offset_q) % bars_q)
            position = first + song_q
            if position < 0 or position > beat_times.size + 2:
                continue
            if position <= beat_times.size - 1:
                time_s = float(np.interp(position, index, beat_times))
            else:
                time_s = float(beat_times[-1] + (position - beat_times.size + 1) * period)
            notes.append((time_s, key, velocity))
        q += bars_q
    return sorted(notes)


def build_midi(tracks: list[tuple[int, bool, list[tuple[float, float, int, int]]]]) -> bytes:
    """Standard MIDI bytes from (program, is_drum, [(start_s, end_s, pitch, velocity)]) tracks."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    for program, is_drum, notes in tracks:
        inst = pretty_midi.Instrument(program=program, is_drum=is_drum)
        for start, end, pitch, velocity in notes:
            if 0 <= pitch <= 127 and end > start:
                inst.notes.append(pretty_midi.Note(velocity=int(np.clip(velocity, 1, 127)), pitch=int(pitch),
                                                   start=float(start), end=float(end)))
        midi.instruments.append(inst)
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


def render(tracks, reverb_level: float | None) -> np.ndarray:
    """Mono float32 of exactly CLIP_SAMPLES samples (silence when no track has notes)."""
    from audio_render.render import RenderOptions, ReverbSettings, render_midi

    if not any(notes for _, _, notes in tracks):
        return np.zeros(CLIP_SAMPLES, np.float32)
    options = RenderOptions(
        soundfont=SOUNDFONT, sample_rate_hz=RATE_HZ, channels=1, gain=0.5, tail_s=0.3,
        reverb=None if reverb_level is None else ReverbSettings(level=reverb_level), chorus=None,
    )
    audio = render_midi(build_midi(tracks), options).samples[:, 0]
    out = np.zeros(CLIP_SAMPLES, np.float32)
    out[: min(CLIP_SAMPLES, audio.size)] = audio[:CLIP_SAMPLES]
    return out


def window_notes(notes, begin_s: float, time_scale: float, transpose: int, velocity_scale: float):
    """Notes sounding in [begin_s, begin_s + CLIP_S) of the time-scaled song, shifted to the clip."""
    out = []
    for note in notes:
        start, end = note.start * time_scale - begin_s, note.end * time_scale - begin_s
        if end <= 0 or start >= CLIP_S:
            continue
        out.append((max(0.0, start), min(end, CLIP_S + 0.2), note.pitch + transpose, note.velocity * velocity_scale))
    return out


def make_clip(song: Path, midi, rng: random.Random, grooves, click: bool, position: float | None = None,
              offbeat_level: tuple[float, float] = (1.0, 1.0)) -> dict:
    """One clip of `song` (its parsed pretty_midi.PrettyMIDI `midi`) with random rendering choices.

    offbeat_level: the range of the drums' off-beat velocity factor (see `accent_beats`). It is drawn
    from its own generator (seeded by the song and the clip's start), so every other choice of the clip
    stays what it was without accents."""
    tracks = {inst.name.upper(): inst for inst in midi.instruments}
    beat_times, downbeat = read_beats(song)
    time_scale = 1.0 / rng.uniform(0.72, 1.5)  # tempo factor 0.72-1.5
    transpose = rng.randint(-5, 6)
    song_end = max(beat_times[-1], midi.get_end_time()) * time_scale
    first_note = min((n.start for inst in midi.instruments for n in inst.notes), default=0.0) * time_scale
    span = max(0.0, song_end - CLIP_S - first_note)
    begin_s = first_note + (span * position if position is not None else rng.uniform(0, span))
    scaled_beats = beat_times * time_scale

    melody_program = rng.choice(VOICE_PROGRAMS) if rng.random() < 0.7 else rng.choice(LEAD_PROGRAMS)
    melody_notes = window_notes(tracks["MELODY"].notes, begin_s, time_scale, transpose, rng.uniform(0.75, 1.0)) \
        if "MELODY" in tracks else []
    if click:
        clip_beats = scaled_beats - begin_s
        keep = (clip_beats > -0.05) & (clip_beats < CLIP_S)
        acc_tracks = [(WOODBLOCK, False, [(t, t + 0.1, 84 if d else 77, 110 if d else 85)
                                          for t, d in zip(clip_beats[keep], downbeat[keep])])]
        if rng.random() < 0.5:
            melody_notes = []
    else:
        acc_tracks = []
        piano = window_notes(tracks["PIANO"].notes, begin_s, time_scale, transpose, rng.uniform(0.7, 1.0)) \
            if "PIANO" in tracks else []
        if rng.random() < 0.6:
            acc_tracks.append((rng.choice(BASS_PROGRAMS), False, [n for n in piano if n[2] < 48]))
            piano = [n for n in piano if n[2] >= 48]
        acc_tracks.append((rng.choice(PIANO_PROGRAMS), False, piano))
        if "BRIDGE" in tracks and rng.random() < 0.8:
            acc_tracks.append((rng.choice(BRIDGE_PROGRAMS), False,
                               window_notes(tracks["BRIDGE"].notes, begin_s, time_scale, transpose, rng.uniform(0.6, 0.9))))
    groove = rng.choice(grooves)
    if offbeat_level != (1.0, 1.0):
        level = random.Random(f"{song.name}:{begin_s:.4f}").uniform(*offbeat_level)
        groove = accent_beats(groove, level)
    drum_notes = [(t - begin_s, t - begin_s + 0.1, key, vel * rng.uniform(0.85, 1.0))
                  for t, key, vel in place_groove(groove, scaled_beats, downbeat, rng)
                  if -0.01 <= t - begin_s < CLIP_S]
    reverb = rng.uniform(0.1, 0.7) if rng.random() < 0.7 else None
    melody = render([(melody_program, False, melody_notes)], reverb)
    accompaniment = render(acc_tracks, reverb)
    drums = render([(rng.choice(DRUM_KITS), True, drum_notes)], reverb)
    melody *= 10 ** (rng.uniform(-3, 5) / 20)
    drums *= 10 ** (rng.uniform(-6, 3) / 20)
    grid_times = scaled_beats - begin_s
    inside = (grid_times > -2.0) & (grid_times < CLIP_S + 2.0)
    chords = [(s * time_scale - begin_s, e * time_scale - begin_s, label) for s, e, label in read_chords(song)]
    chords = [(max(0.0, s), min(CLIP_S, e), label) for s, e, label in chords if e > begin_s * 0 and e > 0 and s < CLIP_S]
    return {
        "song": song.name, "begin_s": begin_s, "tempo_factor": 1 / time_scale, "transpose": transpose,
        "click": click, "melody_program": melody_program, "reverb": reverb,
        "beat_times_s": grid_times[inside].round(4).tolist(), "downbeat": downbeat[inside].tolist(),
        "chords": [(round(s, 4), round(e, 4), label) for s, e, label in chords],
        "key": (song / "key_audio.txt").read_text().split()[-1] if (song / "key_audio.txt").is_file() else "",
        "audio": {"melody": melody, "accompaniment": accompaniment, "drums": drums},
    }


def encode_clip(clip: dict, codec) -> dict:
    """Tokens and chroma of both tasks' inputs and targets; tracked beats of both inputs."""
    from audio_render.accompanist.features import input_features, loudness_gain
    from audio_render.accompanist.beats import BeatGrid

    audio = clip["audio"]
    rest = audio["melody"] + audio["accompaniment"]
    known = BeatGrid(np.array(clip["beat_times_s"]), np.array(clip["downbeat"], bool))
    drum_in = input_features(rest, codec)
    drum_target = codec.encode(audio["drums"] * drum_in.gain, RATE_HZ)
    back_in = input_features(audio["melody"], codec)
    back_target = codec.encode(audio["accompaniment"] * back_in.gain, RATE_HZ)
    return {
        "drum_in": drum_in.tokens.numpy().astype(np.int16), "drum_target": drum_target.numpy().astype(np.int16),
        "drum_chroma": drum_in.chroma.numpy().astype(np.float16),
        "back_in": back_in.tokens.numpy().astype(np.int16), "back_target": back_target.numpy().astype(np.int16),
        "back_chroma": back_in.chroma.numpy().astype(np.float16),
        "tracked_drum_beats": (drum_in.beats.beat_times_s.round(4).tolist(), drum_in.beats.downbeat.tolist()),
        "tracked_back_beats": (back_in.beats.beat_times_s.round(4).tolist(), back_in.beats.downbeat.tolist()),
        "back_valid": bool(not clip["click"] and loudness_gain(audio["melody"]) < 50 and np.any(audio["accompaniment"])),
        "known_beats": known,
    }


def _read_mono_16k(path: Path) -> np.ndarray:
    from audio_render.audio_io import read_audio
    from audio_render.chroma import resample

    samples, rate = read_audio(path)
    return resample(samples.mean(axis=1), rate, RATE_HZ)


def stems_clips(folder: Path) -> list[dict]:
    """Clips of a user's stems folder in the shape make_clip returns (beats tracked, not annotated).

    A clip's beats stand in for an annotation: the learned tracker (the one the model's inputs are
    tracked by when serving) runs on the whole mix of the pair, input and target together, since the
    drums or the backing carry the pulse more clearly than the part without them."""
    from audio_render.accompanist.beats import track_beats_learned

    clips = []
    for task, (input_dir, target_dir) in (("drums", ("rest", "drums")), ("backing", ("melody", "backing"))):
        if not (folder / input_dir).is_dir():
            continue
        for source in sorted((folder / input_dir).iterdir()):
            target_path = folder / target_dir / source.name
            if not target_path.is_file():
                print(f"skip {source}: no {target_dir}/{source.name}", flush=True)
                continue
            source_audio, target_audio = _read_mono_16k(source), _read_mono_16k(target_path)
            length = min(source_audio.size, target_audio.size)
            for begin in range(0, length - CLIP_SAMPLES + 1, CLIP_SAMPLES):
                piece = source_audio[begin : begin + CLIP_SAMPLES]
                if np.sqrt(np.mean(piece ** 2)) < 1e-3:
                    continue
                silent = np.zeros(CLIP_SAMPLES, np.float32)
                target = target_audio[begin : begin + CLIP_SAMPLES]
                grid = track_beats_learned(piece + target, RATE_HZ)
                audio = ({"melody": piece, "accompaniment": silent, "drums": target} if task == "drums"
                         else {"melody": piece, "accompaniment": target, "drums": silent})
                clips.append({
                    "song": f"{source.stem}@{begin / RATE_HZ:.2f}", "begin_s": begin / RATE_HZ, "tempo_factor": 1.0,
                    "transpose": 0, "click": task == "drums", "drum_valid": task == "drums", "melody_program": -1,
                    "reverb": None, "beat_times_s": grid.beat_times_s.round(4).tolist(), "downbeat": grid.downbeat.tolist(),
                    "chords": [], "key": "", "audio": audio,
                })
    return clips


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(".cache/accompanist/data"))
    parser.add_argument("--pop909", type=Path, default=POP909)
    parser.add_argument("--clips-per-song", type=int, default=2)
    parser.add_argument("--limit-songs", type=int, default=0)
    parser.add_argument("--minutes", type=float, default=20.0, help="stop adding training clips after this")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--offbeat-level", type=float, nargs=2, default=(0.35, 0.6), metavar=("LOW", "HIGH"),
                        help="drum notes between the beats play at this share of their velocity (1 1: as written)")
    parser.add_argument("--stems", type=Path, help="a folder of your own stems (drums/ + rest/, melody/ + backing/)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from audio_render.codec import PRETRAINED_CODEC_DIR, MelCodec

    codec = MelCodec.from_pretrained(PRETRAINED_CODEC_DIR)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.stems:
        save_stems(args.stems, args.out, codec)
        return
    grooves = groove_library(args.out.parent)
    songs = song_dirs(args.pop909)
    if args.limit_songs:
        songs = songs[: args.limit_songs]
    held_out = [s for i, s in enumerate(songs) if i % HOLDOUT_EVERY == 0]
    training = [s for i, s in enumerate(songs) if i % HOLDOUT_EVERY != 0]
    rng = random.Random(args.seed)
    started = time.time()
    # Held-out first (they are what the evaluation needs), then training clips until the time cap.
    for split, split_songs, per_song in (("test", held_out, 1), ("train", training, args.clips_per_song)):
        arrays: dict[str, list] = {}
        meta = []
        for index, song in enumerate(split_songs):
            if split == "train" and time.time() - started > args.minutes * 60:
                print(f"time cap: {index} of {len(split_songs)} training songs", flush=True)
                break
            import pretty_midi

            midi = pretty_midi.PrettyMIDI(str(song / f"{song.name}.mid"))
            for k in range(per_song):
                try:
                    clip = make_clip(song, midi, rng, grooves, click=split == "train" and rng.random() < 0.08,
                                     position=0.3 if split == "test" else None,
                                     offbeat_level=tuple(args.offbeat_level))
                except (KeyError, ValueError, IndexError) as error:
                    print(f"skip {song.name}: {error}", flush=True)
                    continue
                add_clip(clip, codec, arrays, meta, keep_audio=split == "test")
            if index % 20 == 0:
                print(f"{split}: {index + 1}/{len(split_songs)} songs, {len(meta)} clips, {time.time() - started:.0f} s", flush=True)
        save_split(args.out, split, arrays, meta)
        print(f"{split}: {len(meta)} clips saved, {time.time() - started:.0f} s", flush=True)
    (args.out / "info.json").write_text(json.dumps({"sample_rate_hz": RATE_HZ, "clip_s": CLIP_S, "seed": args.seed,
                                                    "offbeat_level": list(args.offbeat_level),
                                                    "holdout_every": HOLDOUT_EVERY, "soundfont": SOUNDFONT}))


def add_clip(clip: dict, codec, arrays: dict[str, list], meta: list[dict], keep_audio: bool) -> None:
    encoded = encode_clip(clip, codec)
    encoded.pop("known_beats")
    meta.append({key: value for key, value in clip.items() if key != "audio"}
                | {key: encoded.pop(key) for key in ("tracked_drum_beats", "tracked_back_beats", "back_valid")})
    for key, value in encoded.items():
        arrays.setdefault(key, []).append(value)
    if keep_audio:
        for key, value in clip["audio"].items():
            arrays.setdefault(f"audio_{key}", []).append(np.clip(value * 32767, -32768, 32767).astype(np.int16))


def save_split(out: Path, split: str, arrays: dict[str, list], meta: list[dict]) -> None:
    np.savez(out / f"{split}.npz", **{key: np.stack(value) for key, value in arrays.items()})
    (out / f"{split}_meta.json").write_text(json.dumps(meta))


def save_stems(folder: Path, out: Path, codec) -> None:
    clips = stems_clips(folder)
    if len(clips) < 2:
        raise SystemExit(f"{folder}: fewer than two 10.24 s clips of paired stems (drums/ + rest/ or melody/ + backing/)")
    for split in ("train", "test"):
        arrays: dict[str, list] = {}
        meta: list[dict] = []
        for index, clip in enumerate(clips):
            if (index % HOLDOUT_EVERY == 0) == (split == "test"):
                add_clip(clip, codec, arrays, meta, keep_audio=split == "test")
                meta[-1]["back_valid"] = not clip["drum_valid"]
        save_split(out, split, arrays, meta)
        print(f"{split}: {len(meta)} clips of your stems saved in {out}", flush=True)


if __name__ == "__main__":
    main()
