"""Faults against a server in its own process: a deadline stops the server's work (not just the
client's wait) within 200 ms, and SIGTERM lets in-flight calls finish."""

from __future__ import annotations

import signal
import time

import grpc
import pytest

from protos.ostinato.v1 import composer_pb2, composer_pb2_grpc, renderer_pb2, renderer_pb2_grpc
from tests.fuzz.cases import melody_track, smf
from tests.fuzz.harness import ServerProcess

# The server's CPU time over this window, starting 200 ms after the deadline, must stay near idle.
QUIET_WINDOW_S = 1.5
# What an idle server (health threads, the session reaper, the SoundFont preload finishing) may use.
IDLE_CPU_S = 0.25


@pytest.fixture(scope="module")
def server():
    process = ServerProcess(workers=4, max_queued=8, extra=("--grace-s", "30"))
    yield process
    process.stop()


def _busy_after_deadline(server: ServerProcess, start_call) -> float:
    """Starts a call with a short deadline; returns the server's CPU seconds over QUIET_WINDOW_S from
    200 ms after the deadline passed."""
    with pytest.raises(grpc.RpcError) as caught:
        start_call()
    assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    time.sleep(0.2)
    before = server.cpu_s()
    time.sleep(QUIET_WINDOW_S)
    return server.cpu_s() - before


def test_a_deadline_stops_a_render_on_the_server(server: ServerProcess) -> None:
    # ~9 minutes of dense notes: many seconds of synthesis if nothing stopped it
    long_midi = smf([melody_track([48 + i % 36 for i in range(4_400)], step_ticks=120)])
    with grpc.insecure_channel(server.address) as channel:
        renderer = renderer_pb2_grpc.RendererStub(channel)
        list(renderer.RenderMidi(renderer_pb2.RenderMidiRequest(midi=smf([melody_track([60])])), timeout=60))  # warm

        def call() -> None:
            for _ in renderer.RenderMidi(renderer_pb2.RenderMidiRequest(midi=long_midi, sample_rate_hz=96_000), timeout=0.8):
                pass

        assert _busy_after_deadline(server, call) < IDLE_CPU_S


def test_a_deadline_stops_generation_on_the_server(server: ServerProcess) -> None:
    with grpc.insecure_channel(server.address) as channel:
        composer = composer_pb2_grpc.ComposerStub(channel)
        list(composer.Generate(composer_pb2.GenerateRequest(text="1 bar of piano"), timeout=120))  # load the model

        # Since the symbolic speed-ups, 64 bars of piano and bass took 1.2 s on a quiet core: too close to a
        # 1 s deadline (a clean-checkout run finished it in time). Five parts took 2.1-3.4 s, against 0.5 s.
        def call() -> None:
            request = composer_pb2.GenerateRequest(attributes=composer_pb2.Attributes(bars=64),
                                                   text="piano, electric bass, strings, electric guitar and drums")
            for _ in composer.Generate(request, timeout=0.5):
                pass

        assert _busy_after_deadline(server, call) < IDLE_CPU_S


def test_sigterm_lets_in_flight_calls_finish() -> None:
    process = ServerProcess(workers=2, max_queued=2, extra=("--grace-s", "60"))
    try:
        with grpc.insecure_channel(process.address) as channel:
            composer = composer_pb2_grpc.ComposerStub(channel)
            request = composer_pb2.GenerateRequest(attributes=composer_pb2.Attributes(bars=4), text="piano",
                                                   sampling=composer_pb2.Sampling(seed=7))
            responses = composer.Generate(request, timeout=180)
            first = next(responses)
            assert first.WhichOneof("event") == "progress"
            process.process.send_signal(signal.SIGTERM)
            rest = list(responses)
            clips = [r.clip for r in rest if r.WhichOneof("event") == "clip"]
            assert len(clips) == 1 and clips[0].seed == 7 and clips[0].midi
        assert process.process.wait(60) == 0
    finally:
        process.stop()
