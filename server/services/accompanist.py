"""Accompanist: declared in the contract, filled by the accompaniment issue. Until then every call
answers UNIMPLEMENTED with a message that says so."""

from __future__ import annotations

from typing import Iterator

import grpc

from ostinato.errors import NotImplementedYet
from protos.ostinato.v1 import accompanist_pb2, accompanist_pb2_grpc
from server.rpc import handle_errors
from server.settings import Settings

SERVICE_NAME = accompanist_pb2.DESCRIPTOR.services_by_name["Accompanist"].full_name


class AccompanistServicer(accompanist_pb2_grpc.AccompanistServicer):
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @handle_errors
    def Accompany(
        self, request: accompanist_pb2.AccompanyRequest, context: grpc.ServicerContext
    ) -> Iterator[accompanist_pb2.AccompanyResponse]:
        raise NotImplementedYet("Accompanist.Accompany: the accompaniment model is not part of this build yet")
        yield  # pragma: no cover - makes this a generator like the real implementation


def add_to_server(server: grpc.Server, settings: Settings) -> str:
    accompanist_pb2_grpc.add_AccompanistServicer_to_server(AccompanistServicer(settings), server)
    return SERVICE_NAME
