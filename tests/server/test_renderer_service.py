"""Renderer over a real loopback socket: streamed audio, stems, SoundFonts, status codes, the CLI."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import grpc
import numpy as np
import pretty_midi
import pytest

from protos.ostinato.v1 import renderer_pb2, renderer_pb2_grpc
from server.cli import main as cli_main
from server.client import Client, ServerError
from server.client.renderer import AudioBlock, AudioStart, Effects, RenderProgress, RenderSummary
from tests.conftest import make_midi


def _band(midi_seconds: float = 2.0) -> bytes:
    """Three tracks: piano melody, bass, drums."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    for program, is_drum, pitch, name in ((0, False, 72, "Melody"), (33, False, 36, "Bass"), (0, True, 36, "Kit")):
        inst = pretty_midi.Instrument(program=program, is_drum=is_drum, name=name)
        t = 0.0
        while t < midi_seconds - 0.01:
            inst.notes.append(pretty_midi.Note(100, pitch, t, t + 0.4))
            t += 0.5
        midi.instruments.append(inst)
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


def _fundamental_hz(x: np.ndarray, sample_rate_hz: int) -> float:
    x = x - x.mean()
    acf = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * len(x))) ** 2)[: len(x)]
    lo, hi = sample_rate_hz // 2000, sample_rate_hz // 80
    lag = lo + int(np.argmax(acf[lo:hi]))
    a, b, c = acf[lag - 1], acf[lag], acf[lag + 1]
    return sample_rate_hz / (lag + 0.5 * (a - c) / (a - 2 * b + c))


def test_list_soundfonts_shows_the_configured_default(client: Client) -> None:
    found = {sf.name: sf for sf in client.list_soundfonts()}
    assert found["TimGM6mb"].is_default and not found["FluidR3_GM"].is_default
    assert found["FluidR3_GM"].size_bytes > 100_000_000


def test_render_gives_the_midi_length_plus_tail_and_a_440_hz_a4(client: Client) -> None:
    midi = make_midi([(69, 0.0, 1.5)])
    result = client.render_midi(midi, sample_rate_hz=32_000, channels=1, tail_s=0.5,
                                effects=Effects(reverb=False, chorus=False))
    assert (result.sample_rate_hz, result.channels) == (32_000, 1)
    samples = result.samples
    assert samples.shape == (result.summary.total_frames, 1)
    midi_s = pretty_midi.PrettyMIDI(io.BytesIO(midi)).get_end_time()
    assert result.duration_s == pytest.approx(midi_s + 0.5, abs=0.01)
    assert result.summary.peak == pytest.approx(np.abs(samples).max(), abs=1e-3)
    assert _fundamental_hz(samples[int(0.3 * 32_000): int(1.2 * 32_000), 0], 32_000) == pytest.approx(440.0, rel=0.003)


def test_stereo_default_and_stems_have_the_mix_length(client: Client, tmp_path: Path) -> None:
    result = client.render_midi(_band(), stems=True)
    assert (result.sample_rate_hz, result.channels) == (44_100, 2)
    mix = result.samples
    assert list(result.stems) == ["1:Melody", "2:Bass", "3:Kit"] == list(result.summary.stems)
    for stem in result.stems.values():
        assert stem.shape == mix.shape and np.abs(stem).max() > 0.01
    # The stems add up to the mix (each is rounded to 16 bits on its own).
    assert np.abs(sum(result.stems.values()) - mix).max() < 4 / 32767
    paths = result.write_stems(tmp_path / "stems")
    assert [p.name for p in paths] == ["1-Melody.wav", "2-Bass.wav", "3-Kit.wav"]
    with wave.open(str(paths[0])) as wav:
        assert (wav.getnframes(), wav.getnchannels(), wav.getframerate()) == (len(mix), 2, 44_100)


def test_stream_order_progress_formats_chunks_summary(server_address: str) -> None:
    with grpc.insecure_channel(server_address) as channel:
        stub = renderer_pb2_grpc.RendererStub(channel)
        midi = _band(3.0)
        request = renderer_pb2.RenderMidiRequest(midi=midi, stems=True, chunk_frames=8192, tail_s=-1)
        responses = list(stub.RenderMidi(request, timeout=60))
    kinds = [r.WhichOneof("event") for r in responses]
    assert kinds[0] == "progress" and kinds[-1] == "summary"
    first_chunk = kinds.index("chunk")
    formats = [r.format for r in responses if r.HasField("format")]
    assert kinds.index("format") < first_chunk and kinds[first_chunk:].count("format") == 0
    assert [f.stem for f in formats] == ["", "1:Melody", "2:Bass", "3:Kit"]
    total = formats[0].total_frames
    expected_s = pretty_midi.PrettyMIDI(io.BytesIO(midi)).get_end_time() + 2.0  # default tail
    assert total == responses[-1].summary.total_frames == pytest.approx(expected_s * 44_100, abs=0.01 * 44_100)
    for stem in ("", "1:Melody", "2:Bass", "3:Kit"):
        chunks = [r.chunk for r in responses if r.HasField("chunk") and r.chunk.stem == stem]
        starts = [c.start_frame for c in chunks]
        assert starts == list(range(0, total, 8192))  # in order, contiguous
        assert [c.last for c in chunks] == [False] * (len(chunks) - 1) + [True]
        assert sum(len(c.data) for c in chunks) == total * 2 * 2
    fractions = [r.progress.fraction for r in responses if r.HasField("progress")]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("bar 2 of" in r.progress.message for r in responses if r.HasField("progress"))


def test_typed_streaming_events_arrive_while_rendering(client: Client) -> None:
    events = list(client.iter_render_midi(_band(), chunk_frames=4096, channels=1))
    starts = [e for e in events if isinstance(e, AudioStart)]
    blocks = [e for e in events if isinstance(e, AudioBlock)]
    assert len(starts) == 1 and starts[0].channels == 1
    assert all(b.samples.shape == (4096, 1) for b in blocks[:-1]) and blocks[-1].last
    assert isinstance(events[0], RenderProgress) and isinstance(events[-1], RenderSummary)


def test_closing_the_stream_early_cancels_and_the_server_keeps_serving(client: Client) -> None:
    long_midi = make_midi([(60, 0.0, 300.0)])
    events = client.iter_render_midi(long_midi, chunk_frames=1024)
    assert any(isinstance(e, AudioBlock) for e in (next(events) for _ in range(5)))
    events.close()
    assert client.render_midi(make_midi(), tail_s=0.0).summary.total_frames > 0


@pytest.mark.parametrize("changes, code, message", [
    ({"midi": b"definitely not midi"}, grpc.StatusCode.INVALID_ARGUMENT, "not a Standard MIDI File"),
    ({"midi": b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x00\x20\x90"}, grpc.StatusCode.INVALID_ARGUMENT, "damaged"),
    ({"midi": make_midi([(60, 0.0, 700.0)])}, grpc.StatusCode.RESOURCE_EXHAUSTED, "limit is 600 s"),
    ({"sample_rate_hz": 200_000}, grpc.StatusCode.INVALID_ARGUMENT, "sample_rate_hz"),
    ({"channels": 6}, grpc.StatusCode.INVALID_ARGUMENT, "channels"),
    ({"chunk_frames": 10}, grpc.StatusCode.INVALID_ARGUMENT, "chunk_frames"),
    ({"soundfont": "NoSuchFont"}, grpc.StatusCode.FAILED_PRECONDITION, "No SoundFont named"),
    ({"soundfont": "/tmp/evil.sf2"}, grpc.StatusCode.INVALID_ARGUMENT, "outside the server's SoundFont folders"),
])
def test_bad_requests_get_clear_status_codes(client: Client, changes: dict, code: grpc.StatusCode, message: str) -> None:
    kwargs = {"midi": make_midi(), **changes}
    midi = kwargs.pop("midi")
    with pytest.raises(ServerError) as error:
        client.render_midi(midi, **kwargs)
    assert error.value.code == code
    assert message in error.value.details


def test_cli_render_writes_the_mix_and_stems(server_address: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    song = tmp_path / "song.mid"
    song.write_bytes(midi := _band())
    out = tmp_path / "song.wav"
    code = cli_main(["render", str(song), "-o", str(out), "--mono", "--sample-rate", "22050",
                     "--stems", str(tmp_path / "stems"), "--no-reverb", "--server", server_address])
    assert code == 0
    with wave.open(str(out)) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (1, 22_050)
        expected_s = pretty_midi.PrettyMIDI(io.BytesIO(midi)).get_end_time() + 2.0
        assert wav.getnframes() == pytest.approx(expected_s * 22_050, abs=0.01 * 22_050)
    assert sorted(p.name for p in (tmp_path / "stems").iterdir()) == ["1-Melody.wav", "2-Bass.wav", "3-Kit.wav"]
    assert "stem 3:Kit" in capsys.readouterr().out


def test_cli_render_of_a_bad_file_fails_cleanly(server_address: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not a midi file")
    out = tmp_path / "bad.wav"
    assert cli_main(["render", str(bad), "-o", str(out), "--server", server_address]) == 1
    assert not out.exists()
    assert "INVALID_ARGUMENT" in capsys.readouterr().err


def test_concurrent_renders_each_get_their_own_music(server_address: str) -> None:
    # The server is multi-threaded; each render must get a synth of its own (and its own pitch).
    from concurrent.futures import ThreadPoolExecutor

    pitches = {57: 220.0, 64: 329.63, 69: 440.0, 76: 659.26}

    def render(pitch: int) -> float:
        with Client(server_address, timeout_s=60) as own:
            result = own.render_midi(make_midi([(pitch, 0.0, 1.5)]), sample_rate_hz=22_050, channels=1,
                                     chunk_frames=1024, effects=Effects(reverb=False, chorus=False))
        return _fundamental_hz(result.samples[int(0.3 * 22_050): int(1.2 * 22_050), 0], 22_050)

    jobs = list(pitches) * 2
    with ThreadPoolExecutor(max_workers=4) as pool:
        measured = list(pool.map(render, jobs))
    for pitch, hz in zip(jobs, measured):
        assert hz == pytest.approx(pitches[pitch], rel=0.005)
