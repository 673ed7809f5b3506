"""Standard MIDI File bytes <-> note-seq NoteSequence, with errors a musician can act on."""

from __future__ import annotations

import io
import warnings

# pydub (imported by note_seq) warns about ffmpeg at import; Ostinato never uses pydub.
warnings.filterwarnings("ignore", message="Couldn't find ffmpeg or avconv")

import note_seq  # noqa: E402
import pretty_midi  # noqa: E402
from note_seq.protobuf import music_pb2

from ostinato.errors import InvalidInput


def parse_midi(midi_bytes: bytes) -> pretty_midi.PrettyMIDI:
    """Parses Standard MIDI File bytes; raises InvalidInput when they are not a readable MIDI file."""
    if not midi_bytes:
        raise InvalidInput("the MIDI data is empty")
    if not midi_bytes.startswith(b"MThd"):
        raise InvalidInput("not a Standard MIDI File: it must start with the 'MThd' header")
    try:
        return pretty_midi.PrettyMIDI(io.BytesIO(midi_bytes))
    except Exception as error:  # noqa: BLE001 - mido/pretty_midi raise many types for corrupt files
        raise InvalidInput(f"the MIDI file could not be read: {error}") from error


def midi_to_note_sequence(midi_bytes: bytes) -> music_pb2.NoteSequence:
    """Parses MIDI bytes into a NoteSequence (notes, tempos, time signatures, programs, controls)."""
    return note_seq.midi_io.midi_to_note_sequence(parse_midi(midi_bytes))


def note_sequence_to_midi(sequence: music_pb2.NoteSequence) -> bytes:
    """Writes a NoteSequence as Standard MIDI File bytes."""
    buffer = io.BytesIO()
    note_seq.midi_io.note_sequence_to_pretty_midi(sequence).write(buffer)
    return buffer.getvalue()
