"""RenderMidi through the server (real loopback socket, WAV written by the client) against the raw
`fluidsynth -ni -F out.wav` CLI on the same ~30 s four-track file with drums, in the same run.

    .venv/bin/python -m benchmarks.render [--soundfont FluidR3_GM] [--repeats 5] [--seconds 30]

Targets (issue 4): at least 0.9x the CLI's speed and at least 200x real time. Runs alternate between
the two paths and the median is reported, because the machine is shared.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import pretty_midi

from audio_render import fluid
from audio_render.render import RenderOptions, render_midi
from audio_render.soundfonts import resolve_soundfont
from benchmarks.common import print_header
from server.app import start_server
from server.client import Client
from server.settings import Settings

SAMPLE_RATE_HZ = 44_100
GAIN = 0.5


def band_midi(seconds: float = 30.0, tempo_bpm: float = 120.0) -> bytes:
    """A four-track GM arrangement: piano chords, bass, a lead melody with pitch bends, and drums."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo_bpm)
    beat = 60.0 / tempo_bpm
    bars = int(seconds / (4 * beat))
    progression = [(60, 64, 67), (57, 60, 64), (53, 57, 60), (55, 59, 62)]  # C Am F G
    piano = pretty_midi.Instrument(program=0, name="Piano")
    bass = pretty_midi.Instrument(program=33, name="Bass")
    lead = pretty_midi.Instrument(program=73, name="Flute")
    drums = pretty_midi.Instrument(program=0, is_drum=True, name="Drums")
    scale = [72, 74, 76, 77, 79, 81, 83, 84]
    for bar in range(bars):
        start = bar * 4 * beat
        chord = progression[bar % 4]
        for b in range(4):
            t = start + b * beat
            for pitch in chord:
                piano.notes.append(pretty_midi.Note(80, pitch, t, t + 0.9 * beat))
            bass.notes.append(pretty_midi.Note(95, chord[0] - 24, t, t + 0.5 * beat))
            bass.notes.append(pretty_midi.Note(85, chord[0] - 12, t + 0.5 * beat, t + 0.95 * beat))
        for i in range(8):
            t = start + i * beat / 2
            lead.notes.append(pretty_midi.Note(90, scale[(bar * 3 + i * 5) % 8], t, t + 0.45 * beat))
            drums.notes.append(pretty_midi.Note(70, 42, t, t + 0.1))  # closed hi-hat
        for b in range(4):
            t = start + b * beat
            drums.notes.append(pretty_midi.Note(110, 36 if b % 2 == 0 else 38, t, t + 0.1))
        lead.pitch_bends.append(pretty_midi.PitchBend(1024, start + 3 * beat))
        lead.pitch_bends.append(pretty_midi.PitchBend(0, start + 3.5 * beat))
        piano.control_changes.append(pretty_midi.ControlChange(64, 127, start))
        piano.control_changes.append(pretty_midi.ControlChange(64, 0, start + 4 * beat - 0.05))
    midi.instruments.extend([piano, bass, lead, drums])
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cli(soundfont: Path, midi_path: Path, out_path: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one CLI render, SoundFont loading included."""
    started, cpu = time.perf_counter(), _children_cpu_s()
    subprocess.run(
        ["fluidsynth", "-ni", "-q", "-r", str(SAMPLE_RATE_HZ), "-g", str(GAIN), "-F", str(out_path),
         str(soundfont), str(midi_path)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started, _children_cpu_s() - cpu


def run_server(client: Client, midi: bytes, soundfont: str, out_path: Path, stems: bool = False) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of this process: server and client both, audio seconds)."""
    started, cpu = time.perf_counter(), time.process_time()
    result = client.render_midi(midi, soundfont=soundfont, sample_rate_hz=SAMPLE_RATE_HZ, gain=GAIN, stems=stems)
    result.write_wav(out_path)
    if stems:
        result.write_stems(out_path.parent / "stems")
    return time.perf_counter() - started, time.process_time() - cpu, result.duration_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soundfont", default="FluidR3_GM")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--synth-threads", type=int, default=fluid.DEFAULT_CPU_CORES,
                        help="FluidSynth threads per render (synth.cpu-cores)")
    args = parser.parse_args()
    fluid.configure_default_pool(args.synth_threads)

    soundfont = resolve_soundfont(args.soundfont)
    midi = band_midi(args.seconds)
    settings = Settings(host="127.0.0.1", port=0, default_soundfont=args.soundfont)
    running = start_server(settings)
    cli_s: list[float] = []
    cli_cpu_s: list[float] = []
    server_cpu_s: list[float] = []
    server_s: list[float] = []
    domain_s: list[float] = []
    domain_cpu_s: list[float] = []
    stems_s: list[float] = []
    startup_s: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as tmp, Client(running.address, timeout_s=300) as client:
            midi_path = Path(tmp) / "band.mid"
            midi_path.write_bytes(midi)
            blip_path = Path(tmp) / "blip.mid"  # one short note: the CLI's fixed cost (SoundFont load)
            blip = pretty_midi.PrettyMIDI()
            blip.instruments.append(pretty_midi.Instrument(0))
            blip.instruments[0].notes.append(pretty_midi.Note(90, 60, 0.0, 0.05))
            blip.write(str(blip_path))
            # Warm-up: page cache for the CLI, SoundFont load and pooled synth for the server.
            run_cli(soundfont, midi_path, Path(tmp) / "cli.wav")
            audio_s = run_server(client, midi, args.soundfont, Path(tmp) / "server.wav")[2]
            options = RenderOptions(soundfont=soundfont, sample_rate_hz=SAMPLE_RATE_HZ, gain=GAIN)
            for _ in range(args.repeats):
                wall, cpu = run_cli(soundfont, midi_path, Path(tmp) / "cli.wav")
                cli_s.append(wall)
                cli_cpu_s.append(cpu)
                wall, cpu, _ = run_server(client, midi, args.soundfont, Path(tmp) / "server.wav")
                server_s.append(wall)
                server_cpu_s.append(cpu)
                started, cpu_started = time.perf_counter(), time.process_time()
                render_midi(midi, options)
                domain_s.append(time.perf_counter() - started)
                domain_cpu_s.append(time.process_time() - cpu_started)
                stems_s.append(run_server(client, midi, args.soundfont, Path(tmp) / "stems.wav", stems=True)[0])
                startup_s.append(run_cli(soundfont, blip_path, Path(tmp) / "blip.wav")[0])
            cli_bytes = (Path(tmp) / "cli.wav").stat().st_size
            server_bytes = (Path(tmp) / "server.wav").stat().st_size
    finally:
        running.stop(grace_s=1.0)

    cli, server, domain, stems = (statistics.median(x) for x in (cli_s, server_s, domain_s, stems_s))
    cli_cpu, server_cpu = statistics.median(cli_cpu_s), statistics.median(server_cpu_s)
    startup = statistics.median(startup_s)
    print_header(f"render: {args.seconds:.0f} s four-track file with drums, {soundfont.name}, "
                 f"{SAMPLE_RATE_HZ} Hz stereo, {args.synth_threads} synth thread(s), median of {args.repeats}")
    print(f"audio length                    {audio_s:8.2f} s (server WAV {server_bytes / 1e6:.1f} MB, "
          f"CLI WAV {cli_bytes / 1e6:.1f} MB)")
    print(f"fluidsynth -ni -F (CLI)         {cli:8.3f} s   {audio_s / cli:7.0f}x real time   runs {_fmt(cli_s)}")
    print(f"  CLI minus its start-up        {cli - startup:8.3f} s   {audio_s / (cli - startup):7.0f}x real time   "
          f"(start-up: CLI on a one-note file {startup:.3f} s)")
    print(f"RenderMidi via server + WAV     {server:8.3f} s   {audio_s / server:7.0f}x real time   runs {_fmt(server_s)}")
    print(f"render_midi in process          {domain:8.3f} s   {audio_s / domain:7.0f}x real time")
    print(f"RenderMidi + 4 stems via server {stems:8.3f} s   {audio_s / stems:7.0f}x real time   (mix and 4 stems WAVs)")
    print(f"CPU seconds: CLI {cli_cpu:.3f}, server+client {server_cpu:.3f} "
          f"({audio_s / server_cpu:.0f}x real time per CPU second; load average now "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores)")
    domain_cpu = statistics.median(domain_cpu_s)
    cores = os.cpu_count() or 1
    print(f"render_midi CPU seconds         {domain_cpu:8.3f} s   (FluidSynth plus event dispatch, all threads): "
          f"even spread perfectly over {cores} idle cores this is at most {audio_s * cores / domain_cpu:.0f}x real time")
    print(f"server speed / CLI speed        {cli / server:8.2f}x   (target >= 0.9x)")
    print(f"server speed / CLI render-only  {(cli - startup) / server:8.2f}x")
    print(f"server real-time factor         {audio_s / server:8.0f}x   (target >= 200x)")


def _fmt(values: list[float]) -> str:
    return " ".join(f"{v:.3f}" for v in values)


if __name__ == "__main__":
    main()
