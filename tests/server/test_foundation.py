"""The spine, end to end over a real socket: health, reflection, a real capability (MIDI ->
NoteSequence), status codes for bad input, auth, limits, deadlines, cancellation and shutdown."""

from __future__ import annotations

import threading
import time
from typing import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from ostinato.runtime import ProgressEvent
from protos.ostinato.v1 import common_pb2, composer_pb2, composer_pb2_grpc
from server.app import SERVICE_NAMES, RunningServer, service_modules, start_server
from server.client import Client, ServerError
from server.rpc import handle_errors, progress_message, stream_work
from tests.conftest import make_midi, make_settings

EXPECTED_SERVICES = {
    "ostinato.v1.Composer",
    "ostinato.v1.Renderer",
    "ostinato.v1.MelodyGenerator",
    "ostinato.v1.Accompanist",
    "ostinato.v1.Bridge",
    "grpc.health.v1.Health",
}


def test_health_serving_for_server_and_each_service(client: Client) -> None:
    assert client.health() == "SERVING"
    for name in EXPECTED_SERVICES - {"grpc.health.v1.Health"}:
        assert client.health(name) == "SERVING"


def test_reflection_lists_every_service(server_address: str) -> None:
    with grpc.insecure_channel(server_address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = list(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
        names = {s.name for s in responses[0].list_services_response.service}
        assert EXPECTED_SERVICES <= names
        # The contract can be fetched by symbol, NoteSequence dependency included.
        request = reflection_pb2.ServerReflectionRequest(file_containing_symbol="ostinato.v1.Composer")
        files = list(stub.ServerReflectionInfo(iter([request])))[0].file_descriptor_response.file_descriptor_proto
        assert len(files) >= 2


def test_describe_midi_returns_the_notes(client: Client) -> None:
    midi = make_midi(tempo_bpm=90.0, time_signature=(3, 4), program=73)
    sequence = client.describe_midi(midi).note_sequence
    assert [n.pitch for n in sequence.notes] == [60, 62, 64, 65, 67, 69, 71, 72]
    assert {n.program for n in sequence.notes} == {73}
    assert sequence.tempos[0].qpm == pytest.approx(90.0, abs=0.01)
    assert (sequence.time_signatures[0].numerator, sequence.time_signatures[0].denominator) == (3, 4)


def test_bad_midi_bytes_are_invalid_argument_and_server_keeps_serving(client: Client) -> None:
    for garbage in (b"not a midi file", b"MThd\x00\x00\x00\x06\x00\x01"):
        with pytest.raises(ServerError) as caught:
            client.describe_midi(garbage)
        assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert "MIDI" in caught.value.details
    assert client.health() == "SERVING"
    assert len(client.describe_midi(make_midi()).note_sequence.notes) == 8


def test_empty_midi_is_invalid_argument(client: Client) -> None:
    with pytest.raises(ServerError) as caught:
        client.describe_midi(b"")
    assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT


def test_limits_give_resource_exhausted() -> None:
    settings = make_settings(max_message_bytes=256 * 1024)
    small_limits = type(settings.limits)(max_midi_bytes=1024)
    running = start_server(settings.with_overrides(limits=small_limits))
    try:
        with Client(running.address) as client:
            big_midi = make_midi([(60 + i % 12, i * 0.1, i * 0.1 + 0.05) for i in range(400)])
            assert len(big_midi) > 1024
            with pytest.raises(ServerError) as caught:
                client.describe_midi(big_midi)
            assert caught.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "limit" in caught.value.details
            # A message over the transport limit is refused by gRPC itself, with the same code.
            with pytest.raises(ServerError) as caught:
                client.describe_midi(b"MThd" + b"\x00" * (300 * 1024))
            assert caught.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert client.health() == "SERVING"
    finally:
        running.stop(0)


def test_bearer_token_required_when_configured() -> None:
    running = start_server(make_settings(auth_token="s3cret"))
    try:
        with Client(running.address) as anonymous:
            with pytest.raises(ServerError) as caught:
                anonymous.describe_midi(make_midi())
            assert caught.value.code is grpc.StatusCode.UNAUTHENTICATED
            assert "Bearer" in caught.value.details
            assert anonymous.health() == "SERVING"  # probes need no token
        with Client(running.address, token="wrong") as wrong:
            with pytest.raises(ServerError) as caught:
                wrong.describe_midi(make_midi())
            assert caught.value.code is grpc.StatusCode.UNAUTHENTICATED
        with Client(running.address, token="s3cret") as authorised:
            assert len(authorised.describe_midi(make_midi()).note_sequence.notes) == 8
    finally:
        running.stop(0)


# --- The streaming plumbing, on a real server with a small servicer written for this test. ---


class _SlowComposer(composer_pb2_grpc.ComposerServicer):
    """Streams one progress event per 50 ms for `bars` steps through server.rpc.stream_work."""

    def __init__(self) -> None:
        self.stopped_early = threading.Event()

    @handle_errors
    def Generate(self, request: composer_pb2.GenerateRequest, context: grpc.ServicerContext) -> Iterator[composer_pb2.GenerateResponse]:
        started = time.monotonic()
        steps = request.attributes.bars

        def work(emit, token):  # type: ignore[no-untyped-def]
            for step in range(steps):
                if token.cancelled:
                    self.stopped_early.set()
                token.check()
                emit(ProgressEvent("generate", step / steps, f"bar {step + 1} of {steps}"))
                time.sleep(0.05)
            return steps

        done = yield from stream_work(
            context, work, lambda event: composer_pb2.GenerateResponse(progress=progress_message(event, started))
        )
        yield composer_pb2.GenerateResponse(clip=composer_pb2.Clip(seed=done))


@pytest.fixture()
def slow_server() -> Iterator[tuple[str, _SlowComposer]]:
    servicer = _SlowComposer()
    server = grpc.server(__import__("concurrent.futures").futures.ThreadPoolExecutor(4))
    composer_pb2_grpc.add_ComposerServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", servicer
    server.stop(0)


def _generate(address: str, bars: int, timeout: float | None = None) -> Iterator[composer_pb2.GenerateResponse]:
    channel = grpc.insecure_channel(address)
    stub = composer_pb2_grpc.ComposerStub(channel)
    return stub.Generate(composer_pb2.GenerateRequest(attributes=composer_pb2.Attributes(bars=bars)), timeout=timeout)


def test_stream_work_streams_progress_in_order_then_result(slow_server: tuple[str, _SlowComposer]) -> None:
    responses = list(_generate(slow_server[0], 5))
    fractions = [r.progress.fraction for r in responses if r.HasField("progress")]
    assert fractions == sorted(fractions) and len(fractions) == 5
    assert responses[-1].clip.seed == 5


def test_deadline_stops_the_work(slow_server: tuple[str, _SlowComposer]) -> None:
    address, servicer = slow_server
    with pytest.raises(grpc.RpcError) as caught:
        list(_generate(address, 200, timeout=0.3))
    assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert servicer.stopped_early.wait(2.0), "the work went on after the deadline"


def test_client_cancel_stops_the_work(slow_server: tuple[str, _SlowComposer]) -> None:
    address, servicer = slow_server
    call = _generate(address, 200)
    next(call)
    call.cancel()  # type: ignore[attr-defined]
    assert servicer.stopped_early.wait(2.0), "the work went on after the client cancelled"


def test_graceful_stop_finishes_in_flight_calls_and_refuses_new_ones() -> None:
    from grpc_health.v1 import health

    servicer = _SlowComposer()
    server = grpc.server(__import__("concurrent.futures").futures.ThreadPoolExecutor(4))
    composer_pb2_grpc.add_ComposerServicer_to_server(servicer, server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    running = RunningServer(server, port, make_settings(shutdown_grace_s=5.0), health_servicer, ())
    address = running.address

    in_flight = _generate(address, 10)  # ~0.5 s of work
    first = next(in_flight)
    assert first.HasField("progress")
    stopper = threading.Thread(target=running.stop)
    stopper.start()
    rest = list(in_flight)  # the call in flight finishes with its result
    assert rest[-1].clip.seed == 10
    stopper.join(10)
    with pytest.raises(grpc.RpcError) as caught:
        list(_generate(address, 1, timeout=2))
    assert caught.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def test_every_service_module_registers_a_declared_service() -> None:
    from protos.ostinato.v1 import (accompanist_pb2, arrangement_pb2, bridge_pb2, composer_pb2, melody_pb2,
                                    renderer_pb2)

    declared = {service.full_name for module in (composer_pb2, renderer_pb2, melody_pb2, accompanist_pb2,
                                                 bridge_pb2, arrangement_pb2)
                for service in module.DESCRIPTOR.services_by_name.values()}
    modules = service_modules()
    assert len(modules) == len(SERVICE_NAMES) and {m.SERVICE_NAME for m in modules} == declared


def test_progress_message_clamps_fraction() -> None:
    message = progress_message(ProgressEvent("x", 1.7, "m"), time.monotonic())
    assert isinstance(message, common_pb2.Progress) and message.fraction == 1.0


def test_session_streams_do_not_take_workers_from_unary_calls() -> None:
    running = start_server(make_settings(workers=2, max_stream_calls=2, max_queued_calls=0))
    try:
        with Client(running.address, timeout_s=10) as client:
            sessions = [client.open_bridge_session(), client.open_bridge_session()]  # the stream lane is full
            for _ in range(3):  # both workers are free for unary calls
                assert len(client.describe_midi(make_midi()).note_sequence.notes) == 8
            with pytest.raises(ServerError) as caught:  # a third stream is refused at once, not queued
                client.open_bridge_session()
            assert caught.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
            for session in sessions:
                session.close()
    finally:
        running.stop(0)
