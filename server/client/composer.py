"""Composer calls of the Python client."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from protos.ostinato.v1 import composer_pb2, composer_pb2_grpc
from server.client.base import ClientBase

if TYPE_CHECKING:
    from note_seq.protobuf import music_pb2


def read_midi(midi: bytes | str | Path) -> bytes:
    """Accepts MIDI bytes or a path to a .mid file."""
    return midi if isinstance(midi, bytes) else Path(midi).read_bytes()


@dataclass(frozen=True)
class MidiDescription:
    note_sequence: "music_pb2.NoteSequence"
    attributes: composer_pb2.Attributes


class ComposerCalls(ClientBase):
    def describe_midi(self, midi: bytes | str | Path) -> MidiDescription:
        """Parses a MIDI file on the server: its NoteSequence and extracted attributes."""
        stub = self._stub(composer_pb2_grpc.ComposerStub)
        response = self._unary(stub.DescribeMidi, composer_pb2.DescribeMidiRequest(midi=read_midi(midi)))
        return MidiDescription(response.note_sequence, response.attributes)
