"""Ostinato's shared kernel: the domain errors and the progress/cancellation primitives that
symbolic/, audio_render/ and daw_bridge/ use. It knows nothing of gRPC.

The Python client is importable from here too (loaded on first use, so the kernel stays light):

    from ostinato import Client
    with Client("localhost:50051") as client:
        clip = client.generate(text="a jig in D for fiddle, 8 bars")
"""

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from server.client import Client, ServerError

__all__ = ["Client", "ServerError", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("Client", "ServerError"):
        import server.client

        return getattr(server.client, name)
    raise AttributeError(f"module 'ostinato' has no attribute {name!r}")
