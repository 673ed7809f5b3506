"""MelodyGenerator servicer (stub: the helper working on its issue replaces these methods)."""

from __future__ import annotations

import grpc

from ostinato.errors import NotImplementedYet
from protos.ostinato.v1 import melody_pb2, melody_pb2_grpc
from server.rpc import handle_errors
from server.settings import Settings

SERVICE_NAME = melody_pb2.DESCRIPTOR.services_by_name["MelodyGenerator"].full_name


class MelodyGeneratorServicer(melody_pb2_grpc.MelodyGeneratorServicer):
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @handle_errors
    def GenerateFromMelody(self, request, context):  # type: ignore[no-untyped-def]
        raise NotImplementedYet("MelodyGenerator.GenerateFromMelody is not implemented yet")

    @handle_errors
    def DescribeMelodyModel(self, request, context):  # type: ignore[no-untyped-def]
        raise NotImplementedYet("MelodyGenerator.DescribeMelodyModel is not implemented yet")


def add_to_server(server: grpc.Server, settings: Settings) -> str:
    melody_pb2_grpc.add_MelodyGeneratorServicer_to_server(MelodyGeneratorServicer(settings), server)
    return SERVICE_NAME
