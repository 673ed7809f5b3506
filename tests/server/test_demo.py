"""README's first command: the demo writes real outputs (MIDI that parses, WAV that holds sound, PNGs)
and every step succeeds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile

from symbolic.midi_io import midi_to_note_sequence


def test_demo_writes_real_outputs(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "server.cli", "demo", "--out", str(out), "--melody-seconds", "4"],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert all(step["ok"] for step in summary["steps"]), summary
    assert len(summary["steps"]) == 12

    generated = midi_to_note_sequence((out / "generated.mid").read_bytes())
    assert generated.notes and generated.tempos[0].qpm == 112.0
    assert {n.is_drum for n in generated.notes} == {False, True}
    for name in ("generated.wav", "melody.wav"):
        audio, rate = soundfile.read(out / name)
        assert rate > 0 and len(audio) > rate  # over a second
        assert np.sqrt(np.mean(np.square(audio))) > 1e-3, f"{name} is silent"
    assert len(list((out / "stems").glob("*.wav"))) == 3
    assert len(list((out / "latent").glob("interpolation_*.mid"))) == 6
    for png in ("generated.png", "generated_waveform.png", "melody_waveform.png"):
        assert (out / png).read_bytes().startswith(b"\x89PNG")
    events = json.loads((out / "bridge" / "events.json").read_text())
    assert any(event["data"].startswith("9") for event in events)

    drums, rate = soundfile.read(out / "accompany_drums.wav")
    jig, jig_rate = soundfile.read(out / "accompany_drums_mix.wav")
    assert rate == jig_rate and len(drums) == len(jig) and np.sqrt(np.mean(np.square(drums))) > 1e-3
    arrangement = next(step for step in summary["steps"] if step["step"].startswith("arrangement"))
    assert [(s["name"], s["bars"]) for s in arrangement["sections"]] == [
        ("intro", 4), ("verse", 8), ("chorus", 8), ("chorus 2", 8), ("outro", 4)]
    assert arrangement["stems"] == ["bass", "drums", "guitar", "lead", "percussion", "voice"]
    piece = midi_to_note_sequence((out / "arrangement" / "pop_song.mid").read_bytes())
    assert piece.notes and max(n.end_time for n in piece.notes) > 70.0
    assert any(n.is_drum for n in piece.notes)  # Drumify's drums
    mix, mix_rate = soundfile.read(out / "arrangement" / "pop_song_mix.wav")
    assert len(mix) > 76 * mix_rate and np.sqrt(np.mean(np.square(mix))) > 1e-3
    bar = int(2.4 * mix_rate)  # 100 bpm, 4/4
    for layer, playing, silent in (("percussion", (0, 4), (4, 28)), ("voice", (12, 28), (0, 12))):
        audio, _ = soundfile.read(out / "arrangement" / "stems" / f"{layer}.wav")
        assert np.sqrt(np.mean(np.square(audio[playing[0] * bar:playing[1] * bar]))) > 3e-3, layer
        assert np.sqrt(np.mean(np.square(audio[silent[0] * bar + bar // 10:silent[1] * bar - bar // 10]))) < 1e-4, layer
