"""The connection shared by every service mixin of the Python client."""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

S = TypeVar("S")
R = TypeVar("R")

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024

# Calls that change nothing on the server are retried with exponential backoff when it is busy
# (RESOURCE_EXHAUSTED with a retry hint) or unreachable for a moment (UNAVAILABLE). A refusal for a
# limit carries "grpc-retry-pushback-ms: -1" and is not retried. Bridge streams change session state:
# never retried. gRPC retries a streaming call only until its first response arrives.
RETRIED_SERVICES = ("ostinato.v1.Composer", "ostinato.v1.Renderer", "ostinato.v1.MelodyGenerator",
                    "ostinato.v1.Accompanist", "grpc.health.v1.Health")
RETRY_SERVICE_CONFIG = json.dumps({"methodConfig": [{
    "name": [{"service": name} for name in RETRIED_SERVICES],
    "retryPolicy": {"maxAttempts": 5, "initialBackoff": "0.2s", "maxBackoff": "3s", "backoffMultiplier": 2,
                    "retryableStatusCodes": ["RESOURCE_EXHAUSTED", "UNAVAILABLE"]},
}]})


class ServerError(Exception):
    """A call failed; `code` is the gRPC status (e.g. grpc.StatusCode.INVALID_ARGUMENT)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self.code = code
        self.details = details
        super().__init__(f"{code.name}: {details}")


def _translated(error: grpc.RpcError) -> ServerError:
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    return ServerError(code, details or "")


class ClientBase:
    """A channel to an Ostinato server, with optional bearer token and TLS.

    Args:
        address: "host:port".
        token: bearer token sent with every call, when the server requires one.
        tls: use TLS; `root_certificates` are PEM bytes of the CA (None uses the system's).
        timeout_s: default deadline of every call (None: no deadline).
    """

    def __init__(
        self,
        address: str,
        *,
        token: str | None = None,
        tls: bool = False,
        root_certificates: bytes | None = None,
        timeout_s: float | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        options = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.enable_retries", 1),
            ("grpc.service_config", RETRY_SERVICE_CONFIG),
            ("grpc.per_rpc_retry_buffer_size", 8 * 1024 * 1024),  # a 4 MiB MIDI request stays retryable
            # one connection per Client: the server's per-client cap counts connections
            ("grpc.use_local_subchannel_pool", 1),
        ]
        if tls:
            credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = grpc.secure_channel(address, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(address, options=options)
        self.address = address
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._timeout_s = timeout_s
        self._stubs: dict[type, Any] = {}

    def _stub(self, stub_class: Callable[[grpc.Channel], S]) -> S:
        stub = self._stubs.get(stub_class)  # type: ignore[arg-type]
        if stub is None:
            stub = self._stubs[stub_class] = stub_class(self._channel)  # type: ignore[index]
        return stub

    def _call_kwargs(self, timeout_s: float | None = None) -> dict[str, Any]:
        timeout = timeout_s if timeout_s is not None else self._timeout_s
        return {"metadata": self._metadata, "timeout": timeout}

    def _unary(self, method: Callable[..., R], request: Any, timeout_s: float | None = None) -> R:
        """Calls a unary method, raising ServerError on failure."""
        try:
            return method(request, **self._call_kwargs(timeout_s))
        except grpc.RpcError as error:
            raise _translated(error) from None

    def _stream(self, method: Callable[..., Any], request: Any, timeout_s: float | None = None) -> Iterator[Any]:
        """Calls a server-streaming method and yields its responses; closing the iterator early
        cancels the call on the server."""
        call = method(request, **self._call_kwargs(timeout_s))
        try:
            yield from call
        except grpc.RpcError as error:
            raise _translated(error) from None
        finally:
            call.cancel()

    def wait_ready(self, timeout_s: float = 10.0) -> None:
        """Blocks until the channel is connected; raises ServerError(UNAVAILABLE) otherwise."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout_s)
        except grpc.FutureTimeoutError:
            raise ServerError(grpc.StatusCode.UNAVAILABLE, f"no server answers at {self.address}") from None

    def health(self, service: str = "") -> str:
        """The health status of the server (or of one service): "SERVING", "NOT_SERVING", ..."""
        stub = self._stub(health_pb2_grpc.HealthStub)
        response = self._unary(stub.Check, health_pb2.HealthCheckRequest(service=service))
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "ClientBase":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
