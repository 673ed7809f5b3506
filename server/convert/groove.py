"""Drumify and Groove messages (composer.proto) <-> server.application.groove jobs and results."""

from __future__ import annotations

from protos.ostinato.v1 import composer_pb2
from server.application.groove import DrumifyJob, EditedClip, GrooveJob
from server.convert.composer import attributes_to_proto, note_sequence


def drumify_job(request: composer_pb2.DrumifyRequest) -> DrumifyJob:
    return DrumifyJob(midi=request.midi, style=request.style, merge=request.merge, seed=int(request.sampling.seed))


def groove_job(request: composer_pb2.GrooveRequest) -> GrooveJob:
    amount = float(request.amount) if request.HasField("amount") else 1.0
    return GrooveJob(midi=request.midi, amount=amount, seed=int(request.sampling.seed))


def edited_clip_to_proto(edited: EditedClip) -> composer_pb2.Clip:
    """The changed file as a Clip: MIDI, NoteSequence, the attributes measured on it, the seed used
    (`requested` stays empty: nothing was requested beyond the edit)."""
    return composer_pb2.Clip(midi=edited.midi, note_sequence=note_sequence(edited.clip),
                             measured=attributes_to_proto(edited.measured), seed=edited.seed)
