"""Keep the server's resident memory from ratcheting up under many sessions (glibc only).

Streamlit runs every script run in its own thread. glibc gives busy threads
their own malloc arenas (up to 8 per core) and keeps what is freed in each,
so after a few concurrent predictions the server holds hundreds of MB it no
longer uses, and its RSS only grows. Two remedies, both no-ops where the C
library is not glibc (macOS, musl):

- :func:`limit_malloc_arenas` once per process, before the sessions' threads allocate;
- :func:`release_freed_memory`: ``malloc_trim(0)`` hands the free pages of
  every arena back to the system. ``app.py`` wraps each script run in
  :func:`releasing_freed_memory`, which trims when the server goes idle.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import threading
import time
from collections.abc import Callable, Iterator

M_ARENA_MAX = -8  # mallopt parameter number, from glibc's malloc.h
ARENAS = 2
MAX_TRIM_INTERVAL_S = 10.0  # a server that is never idle still trims this often


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version.restype = ctypes.c_char_p  # present in glibc only
        libc.gnu_get_libc_version()
    except (OSError, AttributeError, TypeError):
        return None
    return libc


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``arenas`` for this process; True when the C library took it."""
    libc = _glibc()
    return bool(libc is not None and libc.mallopt(M_ARENA_MAX, int(arenas)) == 1)


def release_freed_memory() -> bool:
    """Return the freed pages of every malloc arena to the system; True when any memory was released."""
    libc = _glibc()
    return bool(libc is not None and libc.malloc_trim(0) == 1)


class IdleTrim:
    """Trim freed memory when a script run ends and no other run is in flight, or when a trim is overdue.

    Why not after every run: ``malloc_trim`` walks every arena under its lock,
    and the pages it returns are faulted back in by the next run, so trimming
    after each of eight sessions' runs cost about a third of the server's
    throughput (README, Speed). A trim when the server is idle costs no one;
    ``max_interval_s`` bounds the memory of a server that is never idle.
    """

    def __init__(self, max_interval_s: float = MAX_TRIM_INTERVAL_S,
                 trim: Callable[[], bool] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_interval_s = max_interval_s
        self._trim = trim
        self._clock = clock
        self._lock = threading.Lock()
        self._running = 0
        self._last_trim = clock()

    @contextlib.contextmanager
    def run(self) -> Iterator[None]:
        """Count one script run in flight; on leaving it, trim if the server is idle or a trim is overdue."""
        with self._lock:
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                now = self._clock()
                due = self._running == 0 or now - self._last_trim >= self.max_interval_s
                if due:
                    self._last_trim = now
            if due:
                (self._trim or release_freed_memory)()


_SCRIPT_RUNS = IdleTrim()


def releasing_freed_memory() -> contextlib.AbstractContextManager[None]:
    """Wrap one script run of the app: the server's freed memory goes back to the system when it is idle."""
    return _SCRIPT_RUNS.run()
