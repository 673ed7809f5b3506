"""Progress reporting and cooperative cancellation for long work.

Domain code takes an optional `ProgressFn` and an optional `CancelToken`; it calls `token.check()` at
safe points (between bars, windows or chunks) so a cancelled or overdue call stops promptly.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from ostinato.errors import Cancelled


@dataclass(frozen=True)
class ProgressEvent:
    stage: str
    fraction: float
    message: str = ""


ProgressFn = Callable[[ProgressEvent], None]


def no_progress(_: ProgressEvent) -> None:
    """A ProgressFn that ignores events."""


class CancelToken:
    """Set by the caller (client cancelled, deadline passed, server shutting down); checked by workers."""

    def __init__(self, deadline_monotonic_s: float | None = None) -> None:
        self._event = threading.Event()
        self._reason = "cancelled"
        self._deadline = deadline_monotonic_s

    @classmethod
    def with_timeout(cls, timeout_s: float | None) -> "CancelToken":
        return cls(None if timeout_s is None else time.monotonic() + timeout_s)

    def cancel(self, reason: str = "cancelled") -> None:
        self._reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set() or self._deadline_passed()

    def _deadline_passed(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def check(self) -> None:
        """Raises Cancelled if the work should stop."""
        if self._event.is_set():
            raise Cancelled(self._reason)
        if self._deadline_passed():
            raise Cancelled("deadline exceeded", deadline_exceeded=True)

    def wait(self, timeout_s: float) -> bool:
        """Sleeps up to timeout_s; returns True early if cancelled."""
        return self._event.wait(timeout_s)

