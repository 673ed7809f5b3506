"""The services as Ray Serve's gRPC proxies register them: bytes in, bytes out.

Serve's proxy deserializes a request with the handler it was given, then pickles it to the replica;
the generated protobuf classes cannot be pickled by reference here (their `__module__` is the proto
package, `ostinato.v1...`, not the Python package `protos.ostinato.v1...`). So the proxy is given
handlers without a deserializer, and the replica parses the bytes with the servicer's own handler
(server/scale/replica.py): one parse, on the replica, instead of a parse, a pickle and an unpickle.

`add_<Service>Servicer_to_server` names (e.g. `add_ComposerServicer_to_server`) are made on demand
from the contract, for gRPCOptions.grpc_servicer_functions.
"""

from __future__ import annotations

from typing import Any, Callable

import grpc

_PREFIX, _SUFFIX = "add_", "Servicer_to_server"


def raw_servicer_function(service_name: str) -> Callable[[Any, Any], None]:
    """An add-function that registers every RPC of `service_name` with no (de)serializers."""
    from google.protobuf import descriptor_pool

    import protos.ostinato.v1  # noqa: F401 - registers the contract in the default pool
    from server.scale.replica import load_contract

    load_contract()
    service = descriptor_pool.Default().FindServiceByName(service_name)

    def add(servicer: Any, server: Any) -> None:
        handlers = {}
        for method in service.methods:
            behaviour = getattr(servicer, method.name)
            if method.server_streaming:
                handlers[method.name] = grpc.unary_stream_rpc_method_handler(behaviour)
            else:
                handlers[method.name] = grpc.unary_unary_rpc_method_handler(behaviour)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
        server.add_registered_method_handlers(service.full_name, handlers)

    return add


def __getattr__(name: str) -> Callable[[Any, Any], None]:
    if name.startswith(_PREFIX) and name.endswith(_SUFFIX):
        return raw_servicer_function(f"ostinato.v1.{name[len(_PREFIX):-len(_SUFFIX)]}")
    raise AttributeError(name)
