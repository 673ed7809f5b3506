"""`ostinato demo`: the main job on the embedded default models.

Starts a server (or uses --server), exercises every capability through the real Python client, and
writes what a musician would want to keep — MIDI, WAV, PNG piano rolls and waveforms — plus a
summary.json of what was asked, what came back and how long it took.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from server.cli.common import add_connection_arguments, connect

if TYPE_CHECKING:  # the client loads when the demo runs, not for `--help`
    import grpc

    from server.client import Client


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run every capability on the embedded models and write the results to a folder",
        description="Start a server (or use --server), call every capability through the Python client, "
        "and write MIDI, WAV and PNG files plus summary.json into --out.",
    )
    parser.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (default demo_out)")
    parser.add_argument("--seed", type=int, default=7, help="random seed for every generating call")
    parser.add_argument("--melody-seconds", type=float, default=8.0, help="seconds of melody-conditioned audio")
    add_connection_arguments(parser)
    parser.set_defaults(handler=run)


@dataclass
class Demo:
    client: Client
    out: Path
    seed: int
    melody_seconds: float
    results: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)

    def write(self, name: str, data: bytes) -> Path:
        path = self.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def step(self, name: str, action: Callable[[], dict[str, Any]], expected_code: grpc.StatusCode | None = None) -> None:
        print(f"-- {name}", flush=True)
        started = time.perf_counter()
        from server.client import ServerError

        record: dict[str, Any] = {"step": name}
        try:
            record.update(action())
            record["ok"] = expected_code is None
            if expected_code is not None:
                record["error"] = f"expected {expected_code.name}, got success"
        except ServerError as error:
            record["status"] = error.code.name
            record["details"] = error.details
            record["ok"] = error.code is expected_code
        except Exception as error:  # noqa: BLE001 - a failed step is reported, the others still run
            record["ok"] = False
            record["error"] = f"{type(error).__name__}: {error}"
            traceback.print_exc()
        record["seconds"] = round(time.perf_counter() - started, 3)
        for key, value in record.items():
            if key not in ("step",):
                print(f"   {key}: {value}", flush=True)
        self.results.append(record)


def _attributes_text(attributes: Any) -> str:
    from google.protobuf import text_format

    return text_format.MessageToString(attributes, as_one_line=True)


def _piano_roll(demo: Demo, midi_name: str, png_name: str, title: str) -> None:
    from server.cli.plots import piano_roll_png

    sequence = demo.client.describe_midi(demo.files[midi_name]).note_sequence
    piano_roll_png(sequence, demo.out / png_name, title)


def _steps(demo: Demo) -> list[tuple[str, Callable[[], dict[str, Any]], grpc.StatusCode | None]]:
    from server.client.composer import make_attributes

    client = demo.client

    def health() -> dict[str, Any]:
        return {"health": client.health(), "soundfonts": [f.name for f in client.list_soundfonts()]}

    def parse_text() -> dict[str, Any]:
        parsed = client.parse_text("a lively jig in D major for fiddle and flute, 16 bars")
        return {"attributes": _attributes_text(parsed.attributes), "understood": list(parsed.understood),
                "ignored": list(parsed.ignored)}

    def generate() -> dict[str, Any]:
        attributes = make_attributes(instruments=["flute", "acoustic bass", "drums"], key="D major",
                                     time_signature="4/4", tempo_bpm=112, bars=8)
        clip = client.generate(attributes, seed=demo.seed)
        demo.files["generated.mid"] = clip.midi
        demo.write("generated.mid", clip.midi)
        _piano_roll(demo, "generated.mid", "generated.png", "generated: 8 bars, D major, flute + bass + drums, 112 bpm")
        return {"requested": _attributes_text(clip.requested), "measured": _attributes_text(clip.measured),
                "files": ["generated.mid", "generated.png"]}

    def generate_from_text() -> dict[str, Any]:
        clip = client.generate(text="a lively jig in D major for fiddle and flute, 8 bars", seed=demo.seed)
        demo.files["jig.mid"] = clip.midi
        demo.write("jig.mid", clip.midi)
        _piano_roll(demo, "jig.mid", "jig.png", "from text: a lively jig in D major for fiddle and flute")
        return {"measured": _attributes_text(clip.measured), "files": ["jig.mid", "jig.png"]}

    def continue_clip() -> dict[str, Any]:
        clip = client.continue_midi(demo.files["generated.mid"], bars=4, seed=demo.seed)
        demo.files["continued.mid"] = clip.midi
        demo.write("continued.mid", clip.midi)
        _piano_roll(demo, "continued.mid", "continued.png", "generated + 4 bars of continuation")
        return {"measured": _attributes_text(clip.measured), "files": ["continued.mid", "continued.png"]}

    def infill() -> dict[str, Any]:
        clip = client.infill(demo.files["generated.mid"], bars=[2, 3], seed=demo.seed + 1)
        demo.files["infilled.mid"] = clip.midi
        demo.write("infilled.mid", clip.midi)
        _piano_roll(demo, "infilled.mid", "infilled.png", "generated with bars 3-4 regenerated")
        return {"files": ["infilled.mid", "infilled.png"]}

    def latent() -> dict[str, Any]:
        start = client.generate(make_attributes(instruments=["flute"], key="G major", time_signature="4/4",
                                                tempo_bpm=100, bars=2, rhythm_intensity=0.2), seed=demo.seed).midi
        end = client.generate(make_attributes(instruments=["flute"], key="G major", time_signature="4/4",
                                              tempo_bpm=100, bars=2, rhythm_intensity=0.9), seed=demo.seed + 1).midi
        files = [demo.write("latent/start.mid", start).name, demo.write("latent/end.mid", end).name]
        steps = client.interpolate(start, end, steps=6, seed=demo.seed)
        for index, clip in enumerate(steps):
            demo.files[f"latent/interpolation_{index}.mid"] = clip.midi
            files.append(demo.write(f"latent/interpolation_{index}.mid", clip.midi).name)
        variations = client.vary(start, num_variations=4, similarity_distance=0.4, seed=demo.seed)
        for index, clip in enumerate(variations):
            files.append(demo.write(f"latent/variation_{index}.mid", clip.midi).name)
        denser = client.vary(start, num_variations=1, similarity_distance=0.0, shifts={"rhythm_intensity": 1.5},
                             seed=demo.seed)
        files.append(demo.write("latent/start_more_dense.mid", denser[0].midi).name)
        return {"interpolation_steps": len(steps), "variations": len(variations), "files": files}

    def render() -> dict[str, Any]:
        from server.cli.plots import waveform_png

        result = client.render_midi(demo.files["generated.mid"], stems=True)
        result.write_wav(demo.out / "generated.wav")
        stems = result.write_stems(demo.out / "stems")
        waveform_png(result.samples, result.sample_rate_hz, demo.out / "generated_waveform.png", "generated.wav")
        peak = float(abs(result.samples).max())
        return {"duration_s": round(result.duration_s, 2), "peak": round(peak, 3), "stems": [p.name for p in stems],
                "render_s": round(result.summary.render_s, 3) if result.summary else None,
                "files": ["generated.wav", "generated_waveform.png"]}

    def melody() -> dict[str, Any]:
        from server.cli.plots import waveform_png

        info = client.describe_melody_model()
        result = client.generate_from_melody(midi=demo.files["jig.mid"], text="warm strings",
                                             duration_s=demo.melody_seconds, seed=demo.seed)
        result.write_wav(demo.out / "melody.wav")
        waveform_png(result.samples, result.sample_rate_hz, demo.out / "melody_waveform.png", "melody.wav: warm strings")
        summary = result.summary
        return {"model": f"{info.name} ({info.source}, {info.parameters:,} parameters)",
                "duration_s": round(summary.duration_s, 2) if summary else None,
                "chroma_cosine": round(summary.chroma_cosine, 3) if summary else None,
                "first_chunk_s": round(summary.first_chunk_s, 3) if summary else None,
                "notices": [n.message for n in result.notices],
                "files": ["melody.wav", "melody_waveform.png"]}

    def bridge() -> dict[str, Any]:
        from protos.ostinato.v1 import composer_pb2

        attributes = make_attributes(instruments=["piano"], key="C major", time_signature="4/4", tempo_bpm=160, bars=2)
        midi_events, clip_bytes = [], b""
        with client.open_bridge_session(tempo_bpm=160) as session:
            session.transport("start")
            request_id = session.generate(generate=composer_pb2.GenerateRequest(
                attributes=attributes, sampling=composer_pb2.Sampling(seed=demo.seed)), launch_immediately=True)
            deadline = time.monotonic() + 60
            for event in session.events():
                kind = event.WhichOneof("event")
                if kind == "clip" and event.clip.request_id == request_id:
                    clip_bytes = event.clip.midi
                elif kind == "midi":
                    midi_events.append({"beat": round(event.midi.beat, 3), "time_s": round(event.midi.time_s, 4),
                                        "data": event.midi.data.hex()})
                note_ons = [e for e in midi_events if e["data"].startswith("9")]
                if clip_bytes and note_ons and len(note_ons) >= _count_note_ons(clip_bytes):
                    break
                if time.monotonic() > deadline:
                    break
        demo.write("bridge/clip.mid", clip_bytes)
        demo.write("bridge/events.json", json.dumps(midi_events, indent=1).encode())
        return {"session": session.session_id, "midi_events": len(midi_events),
                "files": ["bridge/clip.mid", "bridge/events.json"]}

    def accompanist() -> dict[str, Any]:
        from audio_render.audio_io import encode_wav
        from server.cli.plots import waveform_png

        jig = client.render_midi(demo.files["jig.mid"])  # fiddle and flute, no drums
        result = client.accompany(encode_wav(jig.samples, jig.sample_rate_hz), part="drums", mix=True, seed=demo.seed)
        result.write_wav(demo.out / "accompany_drums.wav", stem="drums")
        result.write_wav(demo.out / "accompany_drums_mix.wav", stem="")
        waveform_png(result.samples("drums"), jig.sample_rate_hz, demo.out / "accompany_drums_waveform.png",
                     "accompany_drums.wav: drums for the jig")
        summary = result.summary
        return {"tempo_bpm": round(summary.tempo_bpm, 1) if summary else None,
                "beats": len(summary.beat_times_s) if summary else None,
                "first_chunk_s": round(summary.first_chunk_s, 3) if summary else None,
                "files": ["accompany_drums.wav", "accompany_drums_mix.wav", "accompany_drums_waveform.png"]}

    def arrangement() -> dict[str, Any]:
        from audio_render.audio_io import encode_wav
        from server.settings import PACKAGE_ROOT

        # A pop song with Drumify drums and two audio layers (Accompanist percussion, a melody-conditioned
        # voice): MIDI, overview, the mix and every stem.
        example = PACKAGE_ROOT / "examples" / "arrangements" / "pop_song_audio.toml"
        result = client.arrange(example, render_audio=True, stems=True, sample_rate_hz=22_050)
        if result.piece is None:
            raise RuntimeError("the arrangement ended without its piece")
        files = {"arrangement/pop_song.mid": result.piece.midi, "arrangement/pop_song_overview.png": result.piece.overview_png}
        for stem, samples in result.audio.items():
            name = "arrangement/pop_song_mix.wav" if stem == "" else f"arrangement/stems/{stem}.wav"
            files[name] = encode_wav(samples, result.sample_rate_hz)
        for name, data in files.items():
            demo.write(name, data)
        sections = [{"name": s.name, "bars": s.bars, "key": s.key, "how": s.how} for s in result.sections]
        return {"sections": sections, "bars": result.piece.bars, "duration_s": round(result.piece.duration_s, 1),
                "stems": sorted(stem for stem in result.audio if stem), "files": sorted(files)}

    return [
        ("health and SoundFonts", health, None),
        ("text to attributes", parse_text, None),
        ("generate from attributes", generate, None),
        ("generate from text", generate_from_text, None),
        ("continue", continue_clip, None),
        ("infill", infill, None),
        ("latent space: interpolate, vary, 'more dense'", latent, None),
        ("render with FluidSynth (mix + stems)", render, None),
        ("melody-conditioned audio", melody, None),
        ("DAW bridge session", bridge, None),
        ("accompanist: drums for the jig", accompanist, None),
        ("arrangement: a pop song with Drumify drums and audio layers (examples/arrangements/pop_song_audio.toml)",
         arrangement, None),
    ]


def _count_note_ons(midi_bytes: bytes) -> int:
    from symbolic.midi_io import midi_to_clip

    return len(midi_to_clip(midi_bytes).table)


def run(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with connect(args) as client:
        demo = Demo(client, args.out, args.seed, args.melody_seconds)
        for name, action, expected in _steps(demo):
            demo.step(name, action, expected)
    summary = {"seconds": round(time.perf_counter() - started, 2), "steps": demo.results}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    failed = [r["step"] for r in demo.results if not r["ok"]]
    print(f"\nwrote {len(list(args.out.rglob('*')))} files to {args.out}/ in {summary['seconds']} s")
    if failed:
        print("failed steps: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0
