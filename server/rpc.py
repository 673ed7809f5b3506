"""Servicer plumbing: the one place where domain errors become gRPC status codes, where a call's
cancellation and deadline become a CancelToken, and where blocking domain work is streamed.

Servicers stay thin: validate, convert, call domain code, convert back.
"""

from __future__ import annotations

import functools
import inspect
import logging
import queue
import threading
import time
import uuid
from typing import Any, Callable, Iterator, TypeVar

import grpc

from ostinato.errors import (
    Cancelled,
    InvalidInput,
    LimitExceeded,
    MissingAsset,
    NotImplementedYet,
    OstinatoError,
)
from ostinato.limits import check_size  # noqa: F401 - servicers import it from here
from ostinato.runtime import CancelToken, ProgressEvent
from protos.ostinato.v1 import common_pb2

log = logging.getLogger("ostinato.server")

T = TypeVar("T")


def status_for(error: OstinatoError) -> grpc.StatusCode:
    """Maps a domain error to the status code a client can act on."""
    if isinstance(error, InvalidInput):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(error, LimitExceeded):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(error, MissingAsset):
        return grpc.StatusCode.FAILED_PRECONDITION
    if isinstance(error, Cancelled):
        return grpc.StatusCode.DEADLINE_EXCEEDED if error.deadline_exceeded else grpc.StatusCode.CANCELLED
    if isinstance(error, NotImplementedYet):
        return grpc.StatusCode.UNIMPLEMENTED
    return grpc.StatusCode.INTERNAL


# Longest status message sent back: a message quoting a 10 MB request field would not fit in the
# metadata limit (the echoed value itself is cut to ostinato.limits.MAX_ECHO_CHARS where it is quoted).
MAX_STATUS_MESSAGE_CHARS = 600


def short_message(message: str, limit: int = MAX_STATUS_MESSAGE_CHARS) -> str:
    """A status message cut to `limit` characters, on one line."""
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 3] + "..."


def _abort(context: grpc.ServicerContext, error: BaseException, method: str) -> None:
    if isinstance(error, OstinatoError):
        code = status_for(error)
        if code is not grpc.StatusCode.INTERNAL:
            if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
                # a limit, not a busy server: the client's retry policy must not try again
                context.set_trailing_metadata((("grpc-retry-pushback-ms", "-1"),))
            context.abort(code, short_message(str(error)))
    if isinstance(error, MemoryError):
        # Limits are checked before work, so this is a limit the checks missed: say so, and log it.
        error_id = uuid.uuid4().hex[:12]
        log.error("%s ran out of memory (error id %s)", method, error_id, exc_info=error)
        context.set_trailing_metadata((("grpc-retry-pushback-ms", "-1"),))
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                      f"the request needs more memory than the server allows (error id {error_id})")
    error_id = uuid.uuid4().hex[:12]
    log.error("%s crashed (error id %s)", method, error_id, exc_info=error)
    context.set_trailing_metadata((("ostinato-error-id", error_id),))
    context.abort(grpc.StatusCode.INTERNAL,
                  f"internal error {error_id} in {method.rsplit('.', 1)[-1]} ({type(error).__name__}): a bug in "
                  "the server, logged under that id; please report it")


def handle_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps a servicer method (unary or server-streaming) so domain errors become status codes and an
    unexpected exception becomes INTERNAL with a log entry, never a dropped connection."""
    name = method.__qualname__

    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def streaming(self: Any, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            try:
                yield from method(self, request, context)
            except GeneratorExit:
                raise
            except Exception as error:  # noqa: BLE001 - every failure must reach the client as a status
                if _is_abort(error):
                    raise
                _abort(context, error, name)

        return streaming

    @functools.wraps(method)
    def unary(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except Exception as error:  # noqa: BLE001
            if _is_abort(error):
                raise
            _abort(context, error, name)

    return unary


def _is_abort(error: BaseException) -> bool:
    # grpc's context.abort() raises a bare `Exception()` after recording the status: let it through.
    return type(error) is Exception and not error.args


def call_token(context: grpc.ServicerContext) -> CancelToken:
    """A CancelToken that trips when the client cancels, the deadline passes or the server stops."""
    remaining = context.time_remaining()
    token = CancelToken.with_timeout(remaining if remaining is not None and remaining < 1e8 else None)
    context.add_callback(lambda: token.cancel("the call ended (client cancelled or server stopping)"))
    return token


def progress_message(event: ProgressEvent, started_monotonic_s: float) -> common_pb2.Progress:
    return common_pb2.Progress(
        stage=event.stage,
        fraction=max(0.0, min(1.0, event.fraction)),
        message=event.message,
        elapsed_s=time.monotonic() - started_monotonic_s,
    )


_DONE = object()


def stream_work(
    context: grpc.ServicerContext,
    work: Callable[[Callable[[Any], None], CancelToken], T],
    to_response: Callable[[Any], Any | None],
    token: CancelToken | None = None,
) -> Iterator[Any]:
    """Runs blocking `work(emit, token)` in a thread and yields `to_response(x)` for each `emit(x)` as
    it happens (progress events, audio blocks...). Use as `result = yield from stream_work(...)`.

    A cancelled call trips the token, so the work stops at its next `token.check()`; errors raised by
    the work are re-raised here, in the servicer's thread, for handle_errors to map.
    """
    token = token or call_token(context)
    events: queue.Queue[tuple[object, Any]] = queue.Queue()

    def run() -> None:
        try:
            events.put((_DONE, work(lambda item: events.put((None, item)), token)))
        except BaseException as error:  # noqa: BLE001 - handed to the servicer thread
            events.put((error, None))

    threading.Thread(target=run, name="ostinato-work", daemon=True).start()
    while True:
        marker, item = events.get()
        if marker is _DONE:
            return item
        if isinstance(marker, BaseException):
            raise marker
        response = to_response(item)
        if response is not None:
            yield response


def check_response_size(what: str, size_bytes: float, limit_bytes: int) -> None:
    """Refuses up front a response message that the server could not send (over max_message_bytes)."""
    if size_bytes > limit_bytes:
        raise LimitExceeded(f"{what} (one response message)", round(size_bytes / 1024 / 1024, 1),
                            round(limit_bytes / 1024 / 1024, 1), "MiB")


