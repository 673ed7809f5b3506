"""The Python client: typed, synchronous and streaming-aware. The CLI uses it; so can any script.

    from ostinato import Client
    with Client("localhost:50051") as client:
        print(client.health())
"""

from __future__ import annotations

from server.client.accompanist import AccompanistCalls
from server.client.arrangement import ArrangementCalls
from server.client.base import ServerError
from server.client.bridge import BridgeCalls
from server.client.composer import ComposerCalls
from server.client.latent import LatentCalls
from server.client.melody import MelodyCalls
from server.client.renderer import RendererCalls


class Client(ComposerCalls, LatentCalls, RendererCalls, MelodyCalls, AccompanistCalls, BridgeCalls, ArrangementCalls):
    """One connection to an Ostinato server with every service's calls."""


__all__ = ["Client", "ServerError"]
