"""Optional bearer-token authentication for every service except health checking."""

from __future__ import annotations

import hmac
from typing import Any, Callable

import grpc

from server.settings import SettingsError

# Load balancers and orchestrators probe health without credentials.
_OPEN_PREFIXES = ("/grpc.health.v1.Health/",)


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """Checks the token before the method is even looked up: a caller without the token gets
    UNAUTHENTICATED for every method name, known or not."""

    def __init__(self, token: str) -> None:
        if not token or not token.strip():
            raise SettingsError("the auth token is empty: give a non-empty token, or none to serve without auth")
        self._expected = f"Bearer {token}".encode()

    def intercept_service(self, continuation: Callable[[Any], Any], details: grpc.HandlerCallDetails) -> Any:
        if details.method.startswith(_OPEN_PREFIXES):
            return continuation(details)
        given: Any = ""
        for key, value in details.invocation_metadata or ():
            if key == "authorization":
                given = value
                break
        given_bytes = given.encode() if isinstance(given, str) else bytes(given)
        if hmac.compare_digest(given_bytes, self._expected):
            return continuation(details)
        message = (
            "missing bearer token: send metadata 'authorization: Bearer <token>'"
            if not given
            else "wrong bearer token"
        )
        return _denying_handler(continuation(details), message)


def _denying_handler(handler: grpc.RpcMethodHandler | None, message: str) -> grpc.RpcMethodHandler:
    def deny(_request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    if handler is None:  # an unknown method: answer as for any other, without saying it is unknown
        return grpc.unary_unary_rpc_method_handler(deny)
    kwargs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(deny, **kwargs)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(deny, **kwargs)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(deny, **kwargs)
    return grpc.unary_unary_rpc_method_handler(deny, **kwargs)
