"""Bridge servicer (stub: the helper working on its issue replaces these methods)."""

from __future__ import annotations

import grpc

from ostinato.errors import NotImplementedYet
from protos.ostinato.v1 import bridge_pb2, bridge_pb2_grpc
from server.rpc import handle_errors
from server.settings import Settings

SERVICE_NAME = bridge_pb2.DESCRIPTOR.services_by_name["Bridge"].full_name


class BridgeServicer(bridge_pb2_grpc.BridgeServicer):
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @handle_errors
    def Session(self, request, context):  # type: ignore[no-untyped-def]
        raise NotImplementedYet("Bridge.Session is not implemented yet")

    @handle_errors
    def WatchSession(self, request, context):  # type: ignore[no-untyped-def]
        raise NotImplementedYet("Bridge.WatchSession is not implemented yet")


def add_to_server(server: grpc.Server, settings: Settings) -> str:
    bridge_pb2_grpc.add_BridgeServicer_to_server(BridgeServicer(settings), server)
    return SERVICE_NAME
