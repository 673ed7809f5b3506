"""Shared fixtures: a real Ostinato server on a real loopback socket, and a client for it."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Iterator

import pretty_midi
import pytest

from server.app import RunningServer, start_server
from server.client import Client
from server.settings import Settings

# The small GM SoundFont keeps rendering tests fast; the quality default stays FluidR3_GM.
TEST_SOUNDFONT = "TimGM6mb"


def make_settings(**overrides: object) -> Settings:
    return Settings(host="127.0.0.1", port=0, default_soundfont=TEST_SOUNDFONT).with_overrides(**overrides)


@pytest.fixture(scope="session")
def running_server() -> Iterator[RunningServer]:
    running = start_server(make_settings())
    yield running
    running.stop(grace_s=1.0)


@pytest.fixture(scope="session")
def server_address(running_server: RunningServer) -> str:
    return running_server.address


@pytest.fixture()
def client(server_address: str) -> Iterator[Client]:
    with Client(server_address, timeout_s=120.0) as connected:
        yield connected


def make_midi(
    notes: list[tuple[int, float, float]] | None = None,
    *,
    program: int = 0,
    is_drum: bool = False,
    tempo_bpm: float = 120.0,
    time_signature: tuple[int, int] = (4, 4),
) -> bytes:
    """A one-track MIDI file from (pitch, start_s, end_s) triples; default: a C major scale."""
    if notes is None:
        notes = [(pitch, i * 0.5, i * 0.5 + 0.45) for i, pitch in enumerate([60, 62, 64, 65, 67, 69, 71, 72])]
    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo_bpm)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(*time_signature, 0.0))
    instrument = pretty_midi.Instrument(program=program, is_drum=is_drum)
    for pitch, start, end in notes:
        instrument.notes.append(pretty_midi.Note(velocity=96, pitch=pitch, start=start, end=end))
    midi.instruments.append(instrument)
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


@pytest.fixture()
def scale_midi() -> bytes:
    return make_midi()


@pytest.fixture()
def tmp_midi_file(tmp_path: Path, scale_midi: bytes) -> Path:
    path = tmp_path / "scale.mid"
    path.write_bytes(scale_midi)
    return path
