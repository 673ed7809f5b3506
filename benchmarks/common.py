"""Small helpers shared by the benchmarks: timing statistics and a table printer."""

from __future__ import annotations

import statistics
import time
from typing import Callable


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def time_calls(call: Callable[[], object], repeats: int, warmup: int = 3) -> list[float]:
    """Seconds per call, after `warmup` untimed calls."""
    for _ in range(warmup):
        call()
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        durations.append(time.perf_counter() - started)
    return durations


def summary_ms(durations_s: list[float]) -> str:
    ms = [d * 1000 for d in durations_s]
    return f"p50 {percentile(ms, 50):8.3f} ms  p99 {percentile(ms, 99):8.3f} ms  mean {statistics.fmean(ms):8.3f} ms"


def print_header(title: str) -> None:
    print(f"\n== {title}")
