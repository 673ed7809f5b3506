"""latent calls of the Python client (filled by the helper working on its issue)."""

from __future__ import annotations

from server.client.base import ClientBase


class LatentCalls(ClientBase):
    pass
