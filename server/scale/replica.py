"""Ray Serve deployments generated from the servicers of server/services, not written a second time.

A replica builds its family's servicer exactly as the single server does (`module.add_to_server`, into
a collector instead of a grpc.Server), then exposes one async method per RPC, named after it, as Ray
Serve's gRPC proxy expects. The servicer runs unchanged in a worker thread with a context that gives it
what grpc.ServicerContext gives it on the single server: the deadline (carried from the front server in
metadata, since Serve does not pass it on), callbacks when the call ends (so a cancelled call or a passed
deadline trips the servicer's CancelToken) and abort() with the servicer's own status code.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import grpc

from server.settings import Settings

# Metadata the front server adds to every forwarded call.
DEADLINE_METADATA = "ostinato-deadline-unix-s"
# Trailing metadata every replica adds: which replica (host:pid) served the call.
REPLICA_METADATA = "ostinato-replica"


def load_contract() -> None:
    """Imports every generated module of the contract, so the default pool knows every service."""
    import protos.ostinato.v1 as package

    for path in sorted(Path(package.__file__).parent.glob("*_pb2.py")):
        importlib.import_module(f"{package.__name__}.{path.stem}")


class _Serialized:
    """A response already serialized by the servicer's handler; Serve calls SerializeToString()."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def SerializeToString(self) -> bytes:  # noqa: N802 - the protobuf name Serve calls
        return self.data


class _HandlerCollector:
    """Stands in for grpc.Server in `add_to_server`: keeps the method handlers of each service."""

    def __init__(self) -> None:
        self.services: dict[str, dict[str, grpc.RpcMethodHandler]] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        pass  # the same handlers arrive through add_registered_method_handlers

    def add_registered_method_handlers(self, service: str, handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        self.services[service] = dict(handlers)


def collect_handlers(module_name: str, settings: Settings) -> dict[str, dict[str, grpc.RpcMethodHandler]]:
    """Builds a family's servicer(s) as the single server does and returns their method handlers."""
    collector = _HandlerCollector()
    importlib.import_module(module_name).add_to_server(collector, settings)
    return collector.services


class _Abort(Exception):
    """Raised out of a replica method after the servicer's status was set on Serve's context."""


class ReplicaCallContext:
    """The part of grpc.ServicerContext that the servicers use, for one call on a replica."""

    def __init__(self, serve_context: Any) -> None:
        self._serve = serve_context
        metadata = dict(serve_context.invocation_metadata())
        try:
            self._deadline_unix_s: float | None = float(metadata[DEADLINE_METADATA])
        except (KeyError, ValueError):
            self._deadline_unix_s = None
        self._callbacks: list[Callable[[], None]] = []
        self._ended = False
        self._lock = threading.Lock()
        self.code: grpc.StatusCode | None = None
        self.details = ""

    def invocation_metadata(self) -> list[tuple[str, str]]:
        return list(self._serve.invocation_metadata())

    def peer(self) -> str:
        return self._serve.peer()

    def time_remaining(self) -> float | None:
        if self._deadline_unix_s is None:
            return None
        return max(0.0, self._deadline_unix_s - time.time())

    def is_active(self) -> bool:
        remaining = self.time_remaining()
        return not self._ended and (remaining is None or remaining > 0)

    def add_callback(self, callback: Callable[[], None]) -> bool:
        with self._lock:
            if not self._ended:
                self._callbacks.append(callback)
                return True
        callback()
        return True

    def set_code(self, code: grpc.StatusCode) -> None:
        self.code = code

    def set_details(self, details: str) -> None:
        self.details = details

    def set_trailing_metadata(self, metadata: Any) -> None:
        pass  # the replica sets its own; the servicers set none

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.code, self.details = code, details
        raise Exception()  # what grpc's own abort raises; server.rpc.handle_errors lets it through

    def end(self) -> None:
        """The call is over (finished, failed, cancelled): run the callbacks once."""
        with self._lock:
            if self._ended:
                return
            self._ended = True
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()


def _replica_tag() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _raise_status(serve_context: Any, call: ReplicaCallContext, error: BaseException | None) -> None:
    code = call.code or grpc.StatusCode.INTERNAL
    details = call.details or f"internal error on a replica: {type(error).__name__}"
    serve_context.set_code(code)
    serve_context.set_details(details)
    raise _Abort(details) from error


def _unary_method(name: str, handler: grpc.RpcMethodHandler) -> Callable[..., Any]:
    async def method(self: Any, request: Any, grpc_context: Any) -> Any:
        grpc_context.set_trailing_metadata([(REPLICA_METADATA, self.tag)])
        call = ReplicaCallContext(grpc_context)
        try:
            response = await asyncio.get_running_loop().run_in_executor(
                None, handler.unary_unary, handler.request_deserializer(request), call)
        except asyncio.CancelledError:
            call.end()
            raise
        except Exception as error:  # noqa: BLE001 - the servicer's own abort, or a bug: both get a status
            call.end()
            _raise_status(grpc_context, call, error)
        call.end()
        if call.code not in (None, grpc.StatusCode.OK):
            _raise_status(grpc_context, call, None)
        return _Serialized(handler.response_serializer(response))

    method.__name__ = name
    return method


_END = object()


def _streaming_method(name: str, handler: grpc.RpcMethodHandler) -> Callable[..., Any]:
    async def method(self: Any, request: Any, grpc_context: Any) -> AsyncIterator[Any]:
        grpc_context.set_trailing_metadata([(REPLICA_METADATA, self.tag)])
        call = ReplicaCallContext(grpc_context)
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[tuple[Any, Any]] = asyncio.Queue(maxsize=16)

        def produce() -> None:
            try:
                for response in handler.unary_stream(handler.request_deserializer(request), call):
                    if not call.is_active():
                        return
                    asyncio.run_coroutine_threadsafe(items.put((None, response)), loop).result()
                asyncio.run_coroutine_threadsafe(items.put((_END, None)), loop).result()
            except BaseException as error:  # noqa: BLE001 - handed to the event loop's side
                try:
                    asyncio.run_coroutine_threadsafe(items.put((error, None)), loop).result()
                except RuntimeError:
                    pass  # the loop is gone: the call was cancelled

        threading.Thread(target=produce, name=f"replica-{name}", daemon=True).start()
        try:
            while True:
                marker, response = await items.get()
                if marker is _END:
                    break
                if marker is not None:
                    _raise_status(grpc_context, call, marker)
                yield _Serialized(handler.response_serializer(response))
        finally:
            call.end()
            # Unblock a producer waiting on a full queue after the consumer has gone.
            while not items.empty():
                items.get_nowait()
        if call.code not in (None, grpc.StatusCode.OK):
            _raise_status(grpc_context, call, None)

    method.__name__ = name
    return method


def service_methods(module_name: str) -> tuple[str, list[tuple[str, bool]]]:
    """The service that `module_name` serves (its SERVICE_NAME) and its RPCs as (name, server-streaming);
    read from the contract, so the driver builds no servicer and loads no model."""
    from google.protobuf import descriptor_pool

    service_name = importlib.import_module(module_name).SERVICE_NAME
    service = descriptor_pool.Default().FindServiceByName(service_name)
    methods = []
    for method in service.methods:
        if method.client_streaming:
            continue  # client-streaming calls stay on the front server (none of these families has one)
        methods.append((method.name, bool(method.server_streaming)))
    return service_name, methods


def deployment_class(module_name: str) -> type:
    """A class with one async method per RPC of the service that `module_name` registers."""
    _, methods = service_methods(module_name)

    class Replica:
        def __init__(self, replica_settings: Settings) -> None:
            import torch

            torch.set_num_threads(max(1, replica_settings.torch_threads))
            self.tag = _replica_tag()
            self._handlers = {
                name: handler
                for handlers in collect_handlers(module_name, replica_settings).values()
                for name, handler in handlers.items()
            }

        async def check_health(self) -> None:
            """Serve's health probe: the replica answers when its event loop does."""

    for rpc_name, server_streaming in methods:
        setattr(Replica, rpc_name, _bind_late(rpc_name, server_streaming))
    Replica.__name__ = Replica.__qualname__ = f"Replica_{module_name.rsplit('.', 1)[-1]}"
    return Replica


def _bind_late(rpc_name: str, server_streaming: bool) -> Callable[..., Any]:
    """A method that calls the handler of the replica's own servicer (built on the replica)."""
    if server_streaming:

        async def streaming(self: Any, request: Any, grpc_context: Any) -> AsyncIterator[Any]:
            method = _streaming_method(rpc_name, self._handlers[rpc_name])
            async for response in method(self, request, grpc_context):
                yield response

        streaming.__name__ = rpc_name
        return streaming

    async def unary(self: Any, request: Any, grpc_context: Any) -> Any:
        return await _unary_method(rpc_name, self._handlers[rpc_name])(self, request, grpc_context)

    unary.__name__ = rpc_name
    return unary
