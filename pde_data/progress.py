"""Progress of long work: a bar on a terminal, an occasional log line elsewhere.

`progress_bar(...)` is what every long loop of the toolkit (training, conversion,
rollouts, evaluation) uses. When stderr is a terminal it is a tqdm bar. When it
is not (a batch job, CI, `morph finetune > log 2>&1`, a notebook) it writes no
bar frames: a `logging` line at most every `interval` seconds or when another
`percent` % is done (never more often than every `min_interval` seconds), and
one at the end, e.g.

    finetune: 250/500 step (50%), 12.3 step/s, eta 20s, loss=0.0123, lr=4.1e-04

`write(message)` prints a message above a bar, or logs it (also when progress is
switched off). The library only logs: the `morph` CLI sets up logging; a Python
script that wants these lines off a terminal calls `logging.basicConfig(level=logging.INFO)`.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, Iterable, Iterator, Optional

from tqdm import tqdm  # not tqdm.auto: no widget warning in notebooks

__all__ = ["LogProgress", "progress_bar"]

logger = logging.getLogger(__name__)


class LogProgress:
    """A tqdm look-alike that reports through `logging` instead of redrawing a bar.

    iterable: what to iterate over (optional; else call `update`).
    total: number of units (default len(iterable)); None if unknown.
    interval: seconds between lines at the latest; percent: a line each time another
        `percent` % is done, but not within `min_interval` seconds of the previous one.
    """

    def __init__(self, iterable: Optional[Iterable] = None, *, total: Optional[int] = None, desc: str = "",
                 unit: str = "it", initial: int = 0, interval: float = 30.0, percent: float = 5.0,
                 min_interval: float = 5.0, log: logging.Logger = logger) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.interval, self.percent, self.min_interval, self.log = interval, percent, min_interval, log
        self.postfix = ""
        self._start = self._last_time = time.monotonic()
        self._start_n = initial
        self._last_mark = self._mark(initial)
        self._last_n = initial
        self._closed = False

    def _mark(self, n: int) -> int:
        return int(100 * n / self.total // self.percent) if self.total else 0

    def __iter__(self) -> Iterator[Any]:
        assert self.iterable is not None, "LogProgress: nothing to iterate over"
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __len__(self) -> int:
        return self.total or 0

    def __enter__(self) -> "LogProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def write(self, message: str) -> None:
        self.log.info("%s", message)

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        since = now - self._last_time
        mark = self._mark(self.n)
        if since >= self.interval or (mark > self._last_mark and since >= self.min_interval):
            self._emit(now)

    def _emit(self, now: float) -> None:
        self._last_time, self._last_mark, self._last_n = now, self._mark(self.n), self.n
        elapsed = now - self._start
        rate = (self.n - self._start_n) / elapsed if elapsed > 0 else 0.0
        done = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        parts = [f"{self.desc}: {done} {self.unit}"
                 + (f" ({100 * self.n / self.total:.0f}%)" if self.total else "")]
        if rate > 0:
            parts.append(f"{rate:.3g} {self.unit}/s")
            if self.total and self.n < self.total:
                parts.append(f"eta {_duration((self.total - self.n) / rate)}")
        else:
            parts.append(f"{_duration(elapsed)} elapsed")
        if self.postfix:
            parts.append(self.postfix)
        self.log.info("%s", ", ".join(parts))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self.n != self._last_n:
                self._emit(time.monotonic())


class _Silent(LogProgress):
    """Progress that reports no progress (switched off, or not the main process); messages given to
    `write` (e.g. a trainer's validation line) still go out, as tqdm.write's would."""

    def _emit(self, now: float) -> None:
        pass


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def progress_bar(iterable: Optional[Iterable] = None, *, total: Optional[int] = None, desc: str = "",
                 unit: str = "it", enabled: bool = True, initial: int = 0, leave: bool = True) -> Any:
    """A tqdm bar when `enabled` and stderr is a terminal; a `LogProgress` when `enabled` and it
    is not; a silent stand-in otherwise. All three iterate, `update`, `set_postfix`, `write`
    and `close` alike."""
    if not enabled:
        return _Silent(iterable, total=total, desc=desc, unit=unit, initial=initial)
    if sys.stderr is not None and sys.stderr.isatty():
        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, leave=leave,
                    dynamic_ncols=True)
    return LogProgress(iterable, total=total, desc=desc, unit=unit, initial=initial)
