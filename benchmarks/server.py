"""Server overhead on loopback: unary round-trip latency and streaming throughput, each against the
same work called in-process in the same run.

    .venv/bin/python -m benchmarks.server [--repeats 300] [--megabytes 64]
"""

from __future__ import annotations

import argparse
import time
from concurrent import futures
from typing import Iterator

import grpc

from benchmarks.common import percentile, print_header, summary_ms, time_calls
from ostinato.runtime import CancelToken
from protos.ostinato.v1 import common_pb2, composer_pb2, renderer_pb2, renderer_pb2_grpc
from server.app import start_server
from server.client import Client
from server.rpc import handle_errors, stream_work
from server.services.composer import ComposerServicer
from server.settings import Settings
from tests.conftest import make_midi

CHUNK_BYTES = 64 * 1024


class _ChunkStreamer(renderer_pb2_grpc.RendererServicer):
    """Streams `total_frames` bytes of audio-sized chunks through the same plumbing the real services
    use (handle_errors + stream_work), so the figure is the server's own streaming cost."""

    def __init__(self, payload: bytes) -> None:
        self._payload = payload

    @handle_errors
    def RenderMidi(self, request: renderer_pb2.RenderMidiRequest, context: grpc.ServicerContext) -> Iterator[renderer_pb2.RenderMidiResponse]:
        chunks = request.chunk_frames

        def work(emit, token: CancelToken) -> int:  # type: ignore[no-untyped-def]
            for index in range(chunks):
                token.check()
                emit(index)
            return chunks

        yield from stream_work(
            context,
            work,
            lambda index: renderer_pb2.RenderMidiResponse(
                chunk=common_pb2.AudioChunk(data=self._payload, start_frame=index, last=index == chunks - 1)
            ),
        )


def unary_benchmark(repeats: int) -> None:
    print_header("Unary round trip: Composer.DescribeMidi (MIDI -> NoteSequence + attributes), 8-note file")
    midi = make_midi()
    # Baseline: the servicer's own method, called directly: the same parsing, measuring and message
    # building, without the transport.
    servicer = ComposerServicer(Settings())
    request = composer_pb2.DescribeMidiRequest(midi=midi)
    in_process = time_calls(lambda: servicer.DescribeMidi(request, None), repeats)
    running = start_server(Settings(host="127.0.0.1", port=0))
    try:
        with Client(running.address) as client:
            client.wait_ready()
            health = time_calls(client.health, repeats)
            remote = time_calls(lambda: client.describe_midi(midi), repeats)
    finally:
        running.stop(0)
    print(f"  in-process call         {summary_ms(in_process)}")
    print(f"  through server          {summary_ms(remote)}")
    print(f"  health check (no work)  {summary_ms(health)}")
    overhead = percentile(remote, 50) - percentile(in_process, 50)
    print(f"  => server overhead at p50: {overhead * 1000:.3f} ms "
          f"({percentile(remote, 50) / percentile(in_process, 50):.2f}x the in-process time)")


def streaming_benchmark(megabytes: int) -> None:
    print_header(f"Server-streaming throughput: {megabytes} MiB in {CHUNK_BYTES // 1024} KiB AudioChunk messages")
    payload = bytes(range(256)) * (CHUNK_BYTES // 256)
    chunks = megabytes * 1024 * 1024 // CHUNK_BYTES

    # Baseline: the same messages built and serialised in-process, no transport.
    started = time.perf_counter()
    total = 0
    for index in range(chunks):
        total += len(renderer_pb2.RenderMidiResponse(chunk=common_pb2.AudioChunk(data=payload, start_frame=index)).SerializeToString())
    in_process_s = time.perf_counter() - started

    server = grpc.server(futures.ThreadPoolExecutor(4), options=[("grpc.max_send_message_length", 8 << 20)])
    renderer_pb2_grpc.add_RendererServicer_to_server(_ChunkStreamer(payload), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = renderer_pb2_grpc.RendererStub(channel)
            list(stub.RenderMidi(renderer_pb2.RenderMidiRequest(chunk_frames=4)))  # warm-up
            started = time.perf_counter()
            received = 0
            first_chunk_s = None
            for response in stub.RenderMidi(renderer_pb2.RenderMidiRequest(chunk_frames=chunks)):
                if first_chunk_s is None:
                    first_chunk_s = time.perf_counter() - started
                received += len(response.chunk.data)
            remote_s = time.perf_counter() - started
    finally:
        server.stop(0)
    assert received == chunks * CHUNK_BYTES
    mib = received / 1024 / 1024
    print(f"  in-process (build + serialise)  {mib / in_process_s:9.1f} MiB/s")
    print(f"  through server on loopback      {mib / remote_s:9.1f} MiB/s  (first chunk after {first_chunk_s * 1000:.2f} ms)")
    print(f"  => streaming runs at {in_process_s / remote_s:.2f}x the in-process rate; "
          f"{mib / remote_s / (44100 * 2 * 2 / 1024 / 1024):.0f}x the byte rate of 44.1 kHz stereo 16-bit audio")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--megabytes", type=int, default=64)
    args = parser.parse_args()
    unary_benchmark(args.repeats)
    streaming_benchmark(args.megabytes)


if __name__ == "__main__":
    main()
