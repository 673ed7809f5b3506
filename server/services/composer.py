"""Composer servicer: converts between protobuf and symbolic/'s domain types and calls it."""

from __future__ import annotations

import grpc

from ostinato.errors import NotImplementedYet
from protos.ostinato.v1 import composer_pb2, composer_pb2_grpc
from server.rpc import check_size, handle_errors
from server.settings import Settings
from symbolic.midi_io import midi_to_note_sequence

SERVICE_NAME = composer_pb2.DESCRIPTOR.services_by_name["Composer"].full_name


class ComposerServicer(composer_pb2_grpc.ComposerServicer):
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @handle_errors
    def DescribeMidi(
        self, request: composer_pb2.DescribeMidiRequest, context: grpc.ServicerContext
    ) -> composer_pb2.DescribeMidiResponse:
        check_size("midi", request.midi, self._settings.limits.max_midi_bytes)
        return composer_pb2.DescribeMidiResponse(note_sequence=midi_to_note_sequence(request.midi))

    @handle_errors
    def Generate(self, request, context):  # type: ignore[no-untyped-def]
        raise NotImplementedYet("Composer.Generate is not implemented yet")

    @handle_errors
    def ParseText(self, request, context):  # type: ignore[no-untyped-def]
        raise NotImplementedYet("Composer.ParseText is not implemented yet")

    @handle_errors
    def Continue(self, request, context):  # type: ignore[no-untyped-def]
        raise NotImplementedYet("Composer.Continue is not implemented yet")

    @handle_errors
    def Infill(self, request, context):  # type: ignore[no-untyped-def]
        raise NotImplementedYet("Composer.Infill is not implemented yet")

    @handle_errors
    def Vary(self, request, context):  # type: ignore[no-untyped-def]
        raise NotImplementedYet("Composer.Vary is not implemented yet")

    @handle_errors
    def Interpolate(self, request, context):  # type: ignore[no-untyped-def]
        raise NotImplementedYet("Composer.Interpolate is not implemented yet")


def add_to_server(server: grpc.Server, settings: Settings) -> str:
    composer_pb2_grpc.add_ComposerServicer_to_server(ComposerServicer(settings), server)
    return SERVICE_NAME
