"""Fair sharing of the server's threads: admission control in one interceptor.

grpcio's synchronous server runs every call on one thread pool, and a long-lived stream (a Bridge
session, a WatchSession follower) holds its thread for as long as it lasts. So calls are sorted into
three lanes, each with its own bound, and the pool is sized for all three:

- open (health checks, reflection): never gated; a few threads are kept for them.
- streams (Bridge.Session, Bridge.WatchSession): at most `max_stream_calls` at once, refused at once
  beyond that (a follower that waits in a queue is no use to anyone).
- work (every other call): at most `workers` run at once; up to `max_queued_calls` more wait, in
  arrival order, for up to `queue_timeout_s` (or their deadline). Beyond that, or after that wait,
  the call is refused with RESOURCE_EXHAUSTED and a retry hint (`grpc-retry-pushback-ms`) that the
  Python client's retry policy honours.

One client (one connection, as gRPC's peer names it) may hold at most `max_calls_per_client` work
calls, running or waiting; beyond that its calls are refused with the same retry hint, so a greedy
client cannot fill the queue in front of everyone else.

So idle followers cannot starve unary calls, and a burst of calls queues instead of bouncing.
"""

from __future__ import annotations

import collections
import threading
import time
from collections import deque
from typing import Any, Callable, Iterator

import grpc

# Calls that are never gated (cheap, and needed to see that the server is alive).
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
# Long-lived streams: they hold a thread for their whole life.
STREAM_METHODS = frozenset({"/ostinato.v1.Bridge/Session", "/ostinato.v1.Bridge/WatchSession"})
# Threads kept for open calls on top of the gated lanes.
OPEN_THREADS = 16
RETRY_PUSHBACK_MS = "250"


class FairQueue:
    """A counting semaphore whose waiters are served in arrival order, with a bounded wait list."""

    def __init__(self, permits: int, max_waiting: int) -> None:
        self._permits = permits
        self._max_waiting = max_waiting
        self._lock = threading.Lock()
        self._waiting: deque[threading.Event] = deque()
        self.running = 0

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def acquire(self, timeout_s: float, still_wanted: Callable[[], bool] = lambda: True) -> bool | None:
        """True when admitted, False after waiting timeout_s (or once `still_wanted` says the caller
        left), None when the wait list is full."""
        with self._lock:
            if self.running < self._permits and not self._waiting:
                self.running += 1
                return True
            if len(self._waiting) >= self._max_waiting or timeout_s <= 0:
                return None
            turn = threading.Event()
            self._waiting.append(turn)
        give_up_at = time.monotonic() + timeout_s
        while not turn.wait(min(0.25, max(0.0, give_up_at - time.monotonic()))):
            if time.monotonic() >= give_up_at or not still_wanted():
                break
        with self._lock:
            if turn.is_set():  # admitted just as the wait ended
                return True
            self._waiting.remove(turn)
            return False

    def release(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()  # the permit passes straight to the next in line
            else:
                self.running -= 1


class AdmissionInterceptor(grpc.ServerInterceptor):
    """Sorts calls into the open, stream and work lanes (see the module docstring)."""

    def __init__(self, workers: int, max_queued_calls: int, queue_timeout_s: float, max_stream_calls: int,
                 max_calls_per_client: int = 0) -> None:
        self.work = FairQueue(workers, max_queued_calls)
        self.streams = FairQueue(max_stream_calls, 0)
        self._queue_timeout_s = queue_timeout_s
        self._max_per_client = max_calls_per_client or workers + max_queued_calls
        self._per_client: collections.Counter[str] = collections.Counter()
        self._clients_lock = threading.Lock()

    @staticmethod
    def pool_size(workers: int, max_queued_calls: int, max_stream_calls: int) -> int:
        """Threads the server's pool needs so that no lane waits for another lane's threads."""
        return workers + max_queued_calls + max_stream_calls + OPEN_THREADS

    def intercept_service(self, continuation: Callable[[Any], Any], details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(details)
        method = details.method
        if handler is None or method.startswith(OPEN_PREFIXES):
            return handler
        if method in STREAM_METHODS:
            return _gated(handler, lambda context: self._admit_stream(context), _StreamLane(self.streams))
        return _gated(handler, lambda context: self._admit_work(context), self)

    def release(self, context: grpc.ServicerContext) -> None:
        """A work call ended: its lane permit and its client's count go back."""
        self.work.release()
        self._leave(context.peer())

    def _leave(self, peer: str) -> None:
        with self._clients_lock:
            self._per_client[peer] -= 1
            if self._per_client[peer] <= 0:
                del self._per_client[peer]

    def _admit_stream(self, context: grpc.ServicerContext) -> None:
        if self.streams.acquire(0) is not True:
            _refuse(context, f"the server follows {self.streams.running} session streams, its limit: "
                             "close a session or follower, or retry later")

    def _admit_work(self, context: grpc.ServicerContext) -> None:
        peer = context.peer()
        with self._clients_lock:
            if self._per_client[peer] >= self._max_per_client:
                busy = True
            else:
                busy = False
                self._per_client[peer] += 1
        if busy:
            _refuse(context, f"this client already has {self._max_per_client} calls running or waiting: "
                             "wait for some to finish, or retry later")
        try:
            self._admit_to_lane(context)
        except BaseException:
            self._leave(peer)
            raise

    def _admit_to_lane(self, context: grpc.ServicerContext) -> None:
        remaining = context.time_remaining()
        wait_s = self._queue_timeout_s if remaining is None else max(0.0, min(self._queue_timeout_s, remaining - 0.05))
        admitted = self.work.acquire(wait_s, context.is_active)
        if admitted is None:
            _refuse(context, f"the server is busy ({self.work.running} calls running, {self.work.waiting} "
                             "waiting, the queue is full): retry later")
        elif not admitted:
            _refuse(context, f"the server stayed busy for {wait_s:.1f} s ({self.work.running} calls running): "
                             "retry later")


def _refuse(context: grpc.ServicerContext, message: str) -> None:
    context.set_trailing_metadata((("grpc-retry-pushback-ms", RETRY_PUSHBACK_MS),))
    context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, message)


class _StreamLane:
    """The stream lane's release, in the shape _gated calls."""

    def __init__(self, lane: FairQueue) -> None:
        self._lane = lane

    def release(self, context: grpc.ServicerContext) -> None:
        self._lane.release()


def _gated(handler: grpc.RpcMethodHandler, admit: Callable[[grpc.ServicerContext], None],
           lane: "AdmissionInterceptor | _StreamLane") -> grpc.RpcMethodHandler:
    """The handler with `admit` before it and the lane's permit released when the call ends."""
    kwargs = {"request_deserializer": handler.request_deserializer,
              "response_serializer": handler.response_serializer}

    if handler.response_streaming:
        behaviour = handler.stream_stream if handler.request_streaming else handler.unary_stream

        def streaming(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            admit(context)
            try:
                yield from behaviour(request, context)
            finally:
                lane.release(context)

        factory = grpc.stream_stream_rpc_method_handler if handler.request_streaming else grpc.unary_stream_rpc_method_handler
        return factory(streaming, **kwargs)

    behaviour = handler.stream_unary if handler.request_streaming else handler.unary_unary

    def unary(request: Any, context: grpc.ServicerContext) -> Any:
        admit(context)
        try:
            return behaviour(request, context)
        finally:
            lane.release(context)

    factory = grpc.stream_unary_rpc_method_handler if handler.request_streaming else grpc.unary_unary_rpc_method_handler
    return factory(unary, **kwargs)
