"""The `ostinato` command: `serve` as a real process (health, reflection, graceful SIGTERM), TLS, and
a subcommand run both in-process and against a running server."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from server.app import start_server
from server.client import Client
from tests.conftest import make_midi, make_settings

OSTINATO = [sys.executable, "-m", "server.cli"]


@pytest.fixture()
def serve_process() -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = subprocess.Popen(
        [*OSTINATO, "serve", "--port", "0", "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "OSTINATO_DEFAULT_SOUNDFONT": "TimGM6mb", "CI": "true"},  # CI makes libraries chatty
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"serving on (\S+:\d+)", line)
        assert match, f"unexpected first line {line!r}; stderr: {process.stderr.read() if process.poll() is not None else ''}"
        yield process, match.group(1)
    finally:  # a failed start must not leave a server running either
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_serve_answers_health_and_reflection_and_stops_on_sigterm(serve_process: tuple[subprocess.Popen[str], str]) -> None:
    process, address = serve_process
    with Client(address) as client:
        client.wait_ready()
        assert client.health() == "SERVING"
    with grpc.insecure_channel(address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        reply = next(iter(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))))
        names = {s.name for s in reply.list_services_response.service}
    assert {"ostinato.v1.Composer", "ostinato.v1.Renderer", "ostinato.v1.MelodyGenerator",
            "ostinato.v1.Accompanist", "ostinato.v1.Bridge", "grpc.health.v1.Health"} <= names
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0


def test_describe_in_process_and_against_a_server(tmp_path: Path, server_address: str) -> None:
    midi_path = tmp_path / "tune.mid"
    midi_path.write_bytes(make_midi(tempo_bpm=132.0, time_signature=(6, 8)))
    outputs = []
    for extra in ([], ["--server", server_address]):
        result = subprocess.run([*OSTINATO, "describe", str(midi_path), *extra], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
        assert "8 notes" in result.stdout
        assert "tempo 132.0 bpm" in result.stdout
        assert "time signature 6/8" in result.stdout
    assert outputs[0] == outputs[1]


def test_cli_reports_bad_input_with_status_and_exit_code(tmp_path: Path, server_address: str) -> None:
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"this is not MIDI")
    result = subprocess.run([*OSTINATO, "describe", str(bad), "--server", server_address], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "INVALID_ARGUMENT" in result.stderr and "MIDI" in result.stderr


def test_help_lists_commands() -> None:
    result = subprocess.run([*OSTINATO, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "serve" in result.stdout and "describe" in result.stdout


def test_help_builds_the_parser_without_the_bridge_or_the_client() -> None:
    probe = ("import sys\nfrom server.cli import build_parser\nbuild_parser()\n"
             "print(sorted(m for m in ('daw_bridge', 'rtmidi', 'mido', 'grpc', 'numpy', 'server.client') "
             "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_the_bridge_commands_choices_are_the_bridges_own() -> None:
    from daw_bridge.bridge import ClockMode
    from daw_bridge.ports import MidiApi
    from server.cli import bridge

    assert bridge.API_NAMES == tuple(api.value for api in MidiApi)
    assert bridge.CLOCK_NAMES == tuple(mode.value for mode in ClockMode)


def test_tls_server_and_client(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    running = start_server(make_settings(tls_cert_file=cert, tls_key_file=key))
    try:
        with Client(f"localhost:{running.port}", tls=True, root_certificates=cert.read_bytes()) as client:
            assert len(client.describe_midi(make_midi()).note_sequence.notes) == 8
        with Client(f"localhost:{running.port}") as plaintext:
            with pytest.raises(Exception):
                plaintext.wait_ready(timeout_s=2)
                plaintext.health()
    finally:
        running.stop(0)
