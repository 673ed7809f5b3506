"""Renderer servicer (stub: the helper working on its issue replaces these methods)."""

from __future__ import annotations

import grpc

from ostinato.errors import NotImplementedYet
from protos.ostinato.v1 import renderer_pb2, renderer_pb2_grpc
from server.rpc import handle_errors
from server.settings import Settings

SERVICE_NAME = renderer_pb2.DESCRIPTOR.services_by_name["Renderer"].full_name


class RendererServicer(renderer_pb2_grpc.RendererServicer):
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @handle_errors
    def RenderMidi(self, request, context):  # type: ignore[no-untyped-def]
        raise NotImplementedYet("Renderer.RenderMidi is not implemented yet")

    @handle_errors
    def ListSoundFonts(self, request, context):  # type: ignore[no-untyped-def]
        raise NotImplementedYet("Renderer.ListSoundFonts is not implemented yet")


def add_to_server(server: grpc.Server, settings: Settings) -> str:
    renderer_pb2_grpc.add_RendererServicer_to_server(RendererServicer(settings), server)
    return SERVICE_NAME
