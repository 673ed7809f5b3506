"""A user's own stems folder trains the Accompanist with the project's scripts: `prepare --stems DIR`
cuts and tokenises the pairs (beats tracked, since a user's folder has no annotation), `train` learns
from them, and the saved model writes drums for new audio. Real FluidSynth renders written as WAV files
at 44.1 kHz stereo (the scripts resample), a real (tiny) network and its real save and load."""

from __future__ import annotations

import json
from pathlib import Path

import mir_eval
import numpy as np

from audio_render.accompanist.model import AccompanimentChunk, AccompanimentRequest, Accompanist
from audio_render.accompanist.train import prepare, train
from audio_render.audio_io import write_wav
from audio_render.render import RenderOptions, render_midi
from tests.conftest import make_midi

RATE = 44_100
TEMPO_BPM = 100.0
SECONDS = 21.0  # two 10.24 s clips per file


def render(notes, *, program: int = 0, is_drum: bool = False) -> np.ndarray:
    options = RenderOptions(sample_rate_hz=RATE, channels=2, tail_s=0.2, reverb=None, chorus=None)
    audio = render_midi(make_midi(notes, program=program, is_drum=is_drum), options).samples
    out = np.zeros((int(SECONDS * RATE), 2), np.float32)
    out[: min(len(out), len(audio))] = audio[: len(out)]
    return out


def write_pair(folder: Path, name: str, offset_s: float, root: int) -> np.ndarray:
    """drums/NAME.wav (kick 1 and 3, snare 2 and 4, eighth hi-hats) and rest/NAME.wav (a bass on every
    beat and a chord per bar, on the same beats); returns the beat times."""
    beat_s = 60.0 / TEMPO_BPM
    beats = offset_s + beat_s * np.arange(int((SECONDS - offset_s) / beat_s))
    drums, bass, chords = [], [], []
    for index, t in enumerate(beats):
        drums += [(36 if index % 2 == 0 else 38, t, t + 0.1), (42, t, t + 0.05), (42, t + beat_s / 2, t + beat_s / 2 + 0.05)]
        bass.append((root - 12 + (7 if index % 4 == 2 else 0), t, t + beat_s * 0.8))
        if index % 4 == 0:
            chords += [(root + 12 + step, t, t + 4 * beat_s * 0.95) for step in (0, 4, 7)]
    (folder / "drums").mkdir(exist_ok=True)
    (folder / "rest").mkdir(exist_ok=True)
    write_wav(folder / "drums" / f"{name}.wav", render(drums, is_drum=True), RATE)
    write_wav(folder / "rest" / f"{name}.wav", render(bass, program=33) + render(chords, program=0), RATE)
    return beats


def test_a_stems_folder_prepares_trains_and_serves(tmp_path: Path) -> None:
    folder = tmp_path / "my_stems"
    folder.mkdir()
    beats = {name: write_pair(folder, name, offset, root)
             for name, offset, root in (("song_a", 0.3, 50), ("song_b", 0.45, 55))}
    data = tmp_path / "data"
    prepare.main(["--stems", str(folder), "--out", str(data)])

    meta = {split: json.loads((data / f"{split}_meta.json").read_text()) for split in ("train", "test")}
    assert len(meta["train"]) + len(meta["test"]) == 4 and len(meta["test"]) == 1  # every 10th clip held out
    for clip in meta["train"] + meta["test"]:
        source, begin = clip["song"].split("@")
        reference = beats[source] - float(begin)
        reference = reference[(reference >= 0) & (reference < prepare.CLIP_S)]
        tracked = np.array(clip["beat_times_s"])
        score = mir_eval.beat.f_measure(reference, tracked[(tracked >= 0) & (tracked < prepare.CLIP_S)], 0.07)
        assert score >= 0.9, f"{clip['song']}: the beats standing in for an annotation are off (F {score:.2f})"
    arrays = np.load(data / "train.npz")
    frames = int(prepare.CLIP_S * 31.25)  # the codec's frame rate
    assert arrays["drum_target"].shape[:2] == (3, 4) and arrays["drum_target"].shape[2] >= frames
    assert arrays["drum_in"].shape == arrays["drum_target"].shape
    assert len(np.unique(arrays["drum_target"][:, 0])) > 8, "the drum stems were tokenised as silence"

    run = tmp_path / "run"
    train.main(["--data", str(data), "--run", str(run), "--minutes", "0.15", "--total-minutes", "0.15",
                "--batch", "2", "--d-model", "32", "--layers", "1"])
    assert (run / "checkpoint.pt").is_file()
    model = Accompanist.from_pretrained(run / "model")
    mix = np.load(data / "test.npz")["audio_melody"][0].astype(np.float32) / 32767
    request = AccompanimentRequest(mix[:, None], 16_000, part="drums")
    chunks = [event for event in model.generate(request) if isinstance(event, AccompanimentChunk)]
    drums = np.concatenate([chunk.part for chunk in chunks])
    assert drums.shape[0] == mix.shape[0], "the output is not as long as the input"
    assert np.all(np.isfinite(drums)) and np.sqrt(np.mean(drums ** 2)) > 1e-4
