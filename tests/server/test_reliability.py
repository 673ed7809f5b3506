"""Hostile input costs the server nothing: cheap scans refuse it before work, every domain error maps
to a status with a short message, streams do not starve unary calls, a busy server queues, a
poisoned bridge message is refused while the session keeps working, and the CLI fails in one line."""

from __future__ import annotations

import io
import math
import shutil
import struct
import subprocess
import sys
import threading
import time
from concurrent import futures

import grpc
import mido
import numpy as np
import pytest

from audio_render.audio_io import LIMITER_THRESHOLD, decode_audio, encode_wav, limit_peaks, to_pcm_s16le
from ostinato.errors import InvalidInput, LimitExceeded, MissingAsset
from ostinato.limits import MidiLimits
from ostinato.midi_scan import scan_audio, scan_midi
from protos.ostinato.v1 import composer_pb2, composer_pb2_grpc, renderer_pb2, renderer_pb2_grpc
from server.app import start_server
from server.client import Client, ServerError
from server.rpc import handle_errors
from server.settings import Settings
from tests.conftest import make_midi, make_settings
from tests.fuzz.cases import _meta, melody_track, seed_flac, seed_float_wav, seed_midis, seed_wav, smf

HUGE_DELTA = smf([b"\x00\x90\x3c\x60\x8f\xff\xff\x7f\x80\x3c\x00"])  # a 40-byte file, 0x0FFFFFFF ticks


# ---- the MIDI scan ----------------------------------------------------------------------------------
@pytest.mark.parametrize("data, error, words", [
    (b"", InvalidInput, "empty"),
    (b"RIFF....", InvalidInput, "MThd"),
    (HUGE_DELTA, LimitExceeded, "ticks"),
    (smf([_meta(0x58, bytes([4, 8, 24, 8])) + melody_track([60])]), InvalidInput, "time signature"),
    (smf([_meta(0x58, bytes([0, 2, 24, 8])) + melody_track([60])]), InvalidInput, "time signature"),
    (smf([_meta(0x59, bytes([9, 0])) + melody_track([60])]), InvalidInput, "key signature"),
    (smf([_meta(0x59, bytes([0, 2])) + melody_track([60])]), InvalidInput, "key signature"),
    (smf([_meta(0x51, b"\0\0\0") + melody_track([60])]), InvalidInput, "tempo"),
    (smf([_meta(0x51, b"\xff\xff\xff") + melody_track([60])]), InvalidInput, "bpm"),
    (smf([_meta(0x51, b"\x07\xa1") + melody_track([60])]), InvalidInput, "tempo"),
    (smf([melody_track([60])], ticks_per_beat=0), InvalidInput, "ticks_per_beat"),
    (smf([melody_track([60])], ticks_per_beat=0xE728), InvalidInput, "SMPTE"),
    (smf([melody_track([60])], declared_tracks=3), InvalidInput, "declares 3 tracks"),
    (smf([b"\x00\x3c\x60"]), InvalidInput, "running status"),
    (smf([b"\x00\x90\x3c\xe0"]), InvalidInput, "over 127"),
    (smf([b"\x00\xf3\x01"]), InvalidInput, "0xF3"),
    (smf([b"\x8f\xff\xff\xff\x7f\x90\x3c\x60"]), InvalidInput, "4 bytes"),
    (smf([b"\x00\xf0\x8f\xff\xff\x7f\x00"]), InvalidInput, "past the end"),
    (smf([melody_track([60])])[:-3], InvalidInput, "declares"),
    (smf([b"\x00\x90\x3c\x60\x00\x80\x3c\x00" * 40_001]), LimitExceeded, "notes"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_the_scan_refuses_each_hostile_midi_class_before_any_parser(data: bytes, error: type, words: str) -> None:
    started = time.process_time()
    with pytest.raises(error) as caught:
        scan_midi(data)
    assert words in str(caught.value)
    assert time.process_time() - started < 1.0


def test_the_scan_counts_what_mido_reads() -> None:
    for data in (*seed_midis(), make_midi(), make_midi(tempo_bpm=90, time_signature=(6, 8))):
        summary = scan_midi(data)
        parsed = mido.MidiFile(file=io.BytesIO(data))
        assert summary.events == sum(len(track) for track in parsed.tracks)
        assert summary.tracks == len(parsed.tracks)
        assert math.isclose(summary.duration_s, parsed.length, rel_tol=1e-9, abs_tol=1e-9)
        assert summary.notes == sum(1 for t in parsed.tracks for m in t if m.type == "note_on" and m.velocity)


def test_limits_are_the_callers_to_choose() -> None:
    assert scan_midi(seed_midis()[0]).notes == 8
    with pytest.raises(LimitExceeded, match="MIDI notes: 5 requested, the limit is 4"):
        scan_midi(seed_midis()[0], MidiLimits(max_notes=4))
    with pytest.raises(LimitExceeded, match="MIDI length"):
        scan_midi(seed_midis()[0], MidiLimits(max_duration_s=1.0))


# ---- the audio scan ---------------------------------------------------------------------------------
def _with(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def test_the_audio_scan_refuses_absurd_headers() -> None:
    wav = seed_wav()
    assert scan_audio(wav).frames == 16_000 and scan_audio(wav).sample_rate_hz == 16_000
    for rate in (1, 2_000_000):
        with pytest.raises(InvalidInput, match="sample rate"):
            scan_audio(_with(wav, 24, "<I", rate))
    with pytest.raises(InvalidInput):
        scan_audio(_with(wav, 22, "<H", 0))  # no channels
    # a flipped bit declares 2 GiB of data: only what the bytes hold counts
    assert scan_audio(_with(wav, 40, "<I", 0x7FFFFFFF)).frames == 16_000
    # a FLAC declaring ten hours is refused before decoding
    flac = bytearray(seed_flac())
    info = int.from_bytes(flac[18:26], "big")
    info = (info & ~0xFFFFFFFFF) | (16_000 * 36_000)
    flac[18:26] = info.to_bytes(8, "big")
    with pytest.raises(LimitExceeded, match="input audio length"):
        scan_audio(bytes(flac), max_duration_s=300)
    for junk in (b"", b"hello", b"OggS" + bytes(60), b"MThd\0\0\0\x06"):
        with pytest.raises(InvalidInput):
            decode_audio(junk)


def test_decoding_refuses_nan_and_infinite_samples() -> None:
    samples, rate = decode_audio(seed_float_wav())
    assert rate == 8_000 and samples.shape == (8_000, 1)
    for bad in (float("nan"), float("inf")):
        data = bytearray(seed_float_wav())
        data[44 + 400:44 + 404] = struct.pack("<f", bad)
        with pytest.raises(InvalidInput, match="NaN or infinite"):
            decode_audio(bytes(data))


def test_output_is_limited_not_clipped() -> None:
    t = np.arange(4_000) / 16_000
    quiet = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[:, None]
    assert limit_peaks(quiet) is quiet  # below the threshold nothing changes
    loud = 1.6 * quiet / 0.5
    pcm = np.frombuffer(to_pcm_s16le(loud), dtype="<i2")
    assert np.abs(pcm).max() < 32767  # never reaches full scale, so no flat tops
    assert np.abs(pcm).max() > LIMITER_THRESHOLD * 32767
    # the waveform keeps its shape: still a 440 Hz tone
    spectrum = np.abs(np.fft.rfft(pcm.astype(float)))
    assert abs(np.argmax(spectrum) * 16_000 / len(pcm) - 440) < 5
    decoded, _ = decode_audio(encode_wav(loud, 16_000))
    assert np.abs(decoded).max() < 1.0


# ---- through a real server --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_server():
    running = start_server(make_settings(workers=2, max_queued_calls=8, queue_timeout_s=20.0, max_stream_calls=4))
    yield running
    running.stop(0)


def _code(call) -> tuple[grpc.StatusCode, str]:
    try:
        result = call()
        if hasattr(result, "__iter__") and not hasattr(result, "ByteSize"):
            list(result)
    except grpc.RpcError as error:
        return error.code(), error.details()
    return grpc.StatusCode.OK, ""


def test_hostile_midi_is_refused_with_a_status_naming_the_problem(small_server) -> None:
    channel = grpc.insecure_channel(small_server.address)
    composer = composer_pb2_grpc.ComposerStub(channel)
    renderer = renderer_pb2_grpc.RendererStub(channel)
    calls = {
        "DescribeMidi": lambda midi: composer.DescribeMidi(composer_pb2.DescribeMidiRequest(midi=midi), timeout=30),
        "RenderMidi": lambda midi: renderer.RenderMidi(renderer_pb2.RenderMidiRequest(midi=midi), timeout=30),
        "Vary": lambda midi: composer.Vary(composer_pb2.VaryRequest(midi=midi, num_variations=1), timeout=60),
    }
    for name, call in calls.items():
        started = time.process_time()
        code, details = _code(lambda: call(HUGE_DELTA))
        assert code is grpc.StatusCode.RESOURCE_EXHAUSTED and "ticks" in details, (name, code, details)
        code, details = _code(lambda: call(smf([_meta(0x58, bytes([4, 9, 24, 8])) + melody_track([60])])))
        assert code is grpc.StatusCode.INVALID_ARGUMENT and "time signature" in details, (name, code, details)
        assert time.process_time() - started < 5.0
    # a file with no notes has nothing to render: refused, not two seconds of silence
    code, details = _code(lambda: calls["RenderMidi"](smf([_meta(0x51, (500_000).to_bytes(3, "big"))])))
    assert code is grpc.StatusCode.INVALID_ARGUMENT and "no notes" in details
    channel.close()


def test_a_loud_render_is_limited_and_says_so(small_server) -> None:
    chord = [(pitch, 0.0, 1.5) for pitch in (36, 40, 43, 48, 52, 55, 60, 64, 67, 72, 76, 79)]
    with Client(small_server.address, timeout_s=60) as client:
        result = client.render_midi(make_midi(chord, program=30), gain=3.0)
    assert any(notice.code == "limited" for notice in result.notices)
    assert np.abs(result.samples).max() < 1.0


def test_an_echoed_field_is_cut_short(small_server) -> None:
    with Client(small_server.address, timeout_s=30) as client:
        with pytest.raises(ServerError) as caught:
            client.render_midi(make_midi(), soundfont="x" * 1_000_000)
    assert caught.value.code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION)
    assert len(caught.value.details) <= 600


def test_a_bug_answers_internal_with_an_error_id_the_log_has() -> None:
    class Broken:
        @handle_errors
        def Fail(self, request: bytes, context: grpc.ServicerContext) -> bytes:
            return {}["missing"]

    server = grpc.server(futures.ThreadPoolExecutor(2))
    handler = grpc.method_handlers_generic_handler("test.Broken", {
        "Fail": grpc.unary_unary_rpc_method_handler(Broken().Fail)})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.RpcError) as caught:
                channel.unary_unary("/test.Broken/Fail")(b"", timeout=10)
    finally:
        server.stop(0)
    assert caught.value.code() is grpc.StatusCode.INTERNAL
    error_id = dict(caught.value.trailing_metadata())["ostinato-error-id"]
    assert len(error_id) == 12 and error_id in caught.value.details()


def test_auth_runs_before_the_method_is_looked_up() -> None:
    with pytest.raises(ValueError, match="empty"):
        start_server(make_settings(auth_token=""))
    running = start_server(make_settings(auth_token="s3cret"))
    try:
        with grpc.insecure_channel(running.address) as channel:
            unknown = channel.unary_unary("/ostinato.v1.Nothing/Here")
            with pytest.raises(grpc.RpcError) as caught:
                unknown(b"", timeout=10)
            assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.RpcError) as caught:
                unknown(b"", timeout=10, metadata=(("authorization", "Bearer s3cret"),))
            assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED
    finally:
        running.stop(0)


def test_a_busy_server_queues_calls_instead_of_refusing_them() -> None:
    running = start_server(make_settings(workers=1, max_queued_calls=6, queue_timeout_s=60.0))
    try:
        long_midi = make_midi([(60 + i % 12, i * 0.25, i * 0.25 + 0.2) for i in range(600)])
        channel = grpc.insecure_channel(running.address)
        renderer = renderer_pb2_grpc.RendererStub(channel)
        composer = composer_pb2_grpc.ComposerStub(channel)
        render = renderer.RenderMidi(renderer_pb2.RenderMidiRequest(midi=long_midi), timeout=120)
        next(render)  # the one worker is rendering
        answers: list[grpc.StatusCode] = []

        def describe() -> None:
            answers.append(_code(lambda: composer.DescribeMidi(
                composer_pb2.DescribeMidiRequest(midi=make_midi()), timeout=120))[0])

        threads = [threading.Thread(target=describe) for _ in range(4)]
        for thread in threads:
            thread.start()
        list(render)
        for thread in threads:
            thread.join(120)
        assert answers == [grpc.StatusCode.OK] * 4  # they waited their turn
        channel.close()
    finally:
        running.stop(0)


def test_a_poisoned_bridge_message_is_refused_and_the_session_keeps_working(small_server) -> None:
    with Client(small_server.address, timeout_s=60) as client:
        session = client.open_bridge_session()
        try:
            session.play(bytes([0x90, 60, 100]), beat=float("inf"))
            session.play(bytes([0x90, 60, 100]), beat=float("nan"))
            session.position(beat=float("nan"), tempo_bpm=120.0, playing=True)
            many = smf([b"\x00\x90\x3c\x60\x00\x80\x3c\x00" * 6_000])
            session.generate(render_midi=many, request_id="huge")
            session.play(bytes([0x90, 62, 100]))
            session.generate(render_midi=make_midi(), request_id="fine")
            notices, clip = [], None
            deadline = time.monotonic() + 60
            for event in session.events():  # the two requests run side by side: wait for both answers
                kind = event.WhichOneof("event")
                if kind == "notice":
                    notices.append(event.notice)
                elif kind == "clip" and event.request_id == "fine":
                    clip = event.clip
                if clip is not None and any("notes" in n.message for n in notices):
                    break
                assert time.monotonic() < deadline
        finally:
            session.close()
    assert clip is not None and len(clip.midi) > 0
    messages = " | ".join(n.message for n in notices)
    assert sum(n.code == "invalid_request" for n in notices) >= 3, messages  # refused, and told why
    assert "play.beat" in messages and "position.beat" in messages and "notes" in messages


def test_the_cli_fails_in_one_line(tmp_path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "server.cli", *args], capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)

    def error_lines(process: subprocess.CompletedProcess) -> list[str]:
        # With CI set, pyfluidsynth announces its library at import (the CLI sends that to stderr).
        return [line for line in process.stderr.strip().splitlines() if "'fluidsynth' was found" not in line]

    missing = run("describe", str(tmp_path / "missing.mid"))
    assert missing.returncode == 1 and len(error_lines(missing)) == 1, missing.stderr
    assert "No such file" in missing.stderr and "Traceback" not in missing.stderr
    wrong_kind = run("generate", "a jig", "-o", str(tmp_path / "out.wav"))
    assert wrong_kind.returncode == 2 and "out.mid" in wrong_kind.stderr
    assert not (tmp_path / "out.wav").exists()
    unwritable = run("generate", "a jig", "-o", str(tmp_path / "no" / "such" / "dir" / "out.mid"))
    assert unwritable.returncode == 2 and "does not exist" in unwritable.stderr


def test_a_model_that_cannot_load_is_a_failed_precondition(tmp_path) -> None:
    broken = tmp_path / "composer"
    shutil.copytree(Settings().composer_model_dir, broken)
    (broken / "model.safetensors").write_bytes(b"\x00" * 64)  # corrupt weights
    with pytest.raises(MissingAsset, match="cannot be loaded"):
        start_server(make_settings(composer_model_dir=broken, preload_models=True))
    running = start_server(make_settings(composer_model_dir=broken))
    try:
        with grpc.insecure_channel(running.address) as channel:
            code, details = _code(lambda: composer_pb2_grpc.ComposerStub(channel).Generate(
                composer_pb2.GenerateRequest(attributes=composer_pb2.Attributes(bars=2)), timeout=60))
        assert code is grpc.StatusCode.FAILED_PRECONDITION and "cannot be loaded" in details, details
    finally:
        running.stop(0)


def test_one_greedy_client_cannot_take_every_slot() -> None:
    running = start_server(make_settings(workers=4, max_queued_calls=8, max_calls_per_client=1))
    try:
        long_midi = make_midi([(60 + i % 12, i * 0.25, i * 0.25 + 0.2) for i in range(400)])
        greedy = grpc.insecure_channel(running.address)
        render = renderer_pb2_grpc.RendererStub(greedy).RenderMidi(renderer_pb2.RenderMidiRequest(midi=long_midi),
                                                                  timeout=120)
        next(render)  # its one slot is taken
        code, details = _code(lambda: composer_pb2_grpc.ComposerStub(greedy).DescribeMidi(
            composer_pb2.DescribeMidiRequest(midi=make_midi()), timeout=30))
        assert code is grpc.StatusCode.RESOURCE_EXHAUSTED and "this client" in details
        # everyone else (another connection) is still served
        with grpc.insecure_channel(running.address, options=[("grpc.use_local_subchannel_pool", 1)]) as other:
            code, _ = _code(lambda: composer_pb2_grpc.ComposerStub(other).DescribeMidi(
                composer_pb2.DescribeMidiRequest(midi=make_midi()), timeout=30))
        assert code is grpc.StatusCode.OK
        render.cancel()
        greedy.close()
    finally:
        running.stop(0)
