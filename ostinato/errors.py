"""Domain errors. Library code raises these; server/rpc.py (status_for) maps each to one gRPC status code.

Messages are written for the person who sent the request: they say what was wrong and what to do.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator


class OstinatoError(Exception):
    """Base class of every domain error."""


class InvalidInput(OstinatoError, ValueError):
    """The request itself is wrong (bad MIDI bytes, unknown instrument, 0 bars...). -> INVALID_ARGUMENT"""


class LimitExceeded(OstinatoError):
    """The request is well-formed but asks for more than the configured limit. -> RESOURCE_EXHAUSTED"""

    def __init__(self, what: str, requested: float, limit: float, unit: str = "") -> None:
        self.what = what
        self.requested = requested
        self.limit = limit
        suffix = f" {unit}" if unit else ""
        super().__init__(f"{what}: {requested:g}{suffix} requested, the limit is {limit:g}{suffix}")


class MissingAsset(OstinatoError):
    """A model, SoundFont or other asset the request needs is not available here. -> FAILED_PRECONDITION"""


class Cancelled(OstinatoError):
    """The caller cancelled the work, or its deadline passed. -> CANCELLED / DEADLINE_EXCEEDED"""

    def __init__(self, message: str = "cancelled", deadline_exceeded: bool = False) -> None:
        self.deadline_exceeded = deadline_exceeded
        super().__init__(message)


class NotImplementedYet(OstinatoError):
    """A declared capability that this build does not provide yet. -> UNIMPLEMENTED"""


@contextmanager
def asset_errors(what: str, where: object) -> Iterator[None]:
    """Turns any failure to load an asset (missing, corrupt or incompatible model weights, a config
    that does not parse) into MissingAsset, so a client gets FAILED_PRECONDITION, not INTERNAL, and a
    server preloading its models refuses to start with one line."""
    try:
        yield
    except OstinatoError:
        raise
    except Exception as error:  # noqa: BLE001 - torch, safetensors, json... each raise their own
        logging.getLogger("ostinato").error("the %s at %s cannot be loaded", what, where, exc_info=error)
        detail = " ".join(str(error).split())[:200]
        raise MissingAsset(f"the {what} at {where} cannot be loaded ({type(error).__name__}: {detail}): "
                           "check or reinstall its files") from error
