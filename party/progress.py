"""Progress reporting from inside jobs, shown by ``party query`` as a tqdm bar on stderr.

Jobs call :func:`report` (``report(3, 12, "layer 3")``); it is a no-op unless a caller installed a
sink with :func:`progress_sink` (a ContextVar, so concurrent server sessions do not mix).
:func:`bar` is the CLI's context manager: a tqdm bar counting bytes moved by the channel, whose
description shows the job's last reported step.
"""
from __future__ import annotations

import contextvars
import sys
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

_sink: contextvars.ContextVar[Callable[[int, int | None, str | None], None] | None] = contextvars.ContextVar(
    "party_progress", default=None
)


def report(done: int, total: int | None = None, desc: str | None = None) -> None:
    """Tell whoever is watching that ``done`` of ``total`` steps are finished."""
    cb = _sink.get()
    if cb is not None:
        cb(done, total, desc)


@contextmanager
def progress_sink(cb: Callable[[int, int | None, str | None], None]) -> Iterator[None]:
    token = _sink.set(cb)
    try:
        yield
    finally:
        _sink.reset(token)


class _Bar:
    """A tqdm bar of bytes moved (both directions) plus the job's step in the description."""

    def __init__(self, desc: str, enabled: bool):
        from tqdm import tqdm

        self._lock = threading.Lock()
        self._desc = desc
        self.tqdm = tqdm(
            total=None, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, file=sys.stderr,
            disable=not enabled, leave=False, dynamic_ncols=True, mininterval=0.2,
        )

    def on_bytes(self, direction: str, n: int) -> None:  # GrpcChannel.on_progress signature
        with self._lock:
            self.tqdm.update(n)

    def on_step(self, done: int, total: int | None, desc: str | None) -> None:
        with self._lock:
            step = f"{done}/{total}" if total else f"{done}"
            self.tqdm.set_description(f"{self._desc} [{desc or 'step'} {step}]", refresh=False)

    def close(self) -> None:
        self.tqdm.close()


@contextmanager
def bar(desc: str = "query", enabled: bool | None = None) -> Iterator[_Bar]:
    """A progress bar on stderr (enabled by default only when stderr is a terminal)."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    b = _Bar(desc, enabled)
    try:
        with progress_sink(b.on_step):
            yield b
    finally:
        b.close()
