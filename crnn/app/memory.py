"""Keep the server's resident memory from ratcheting up under many sessions (glibc only).

Streamlit runs every script run in its own thread. glibc gives busy threads
their own malloc arenas (up to 8 per core) and keeps what is freed in each,
so after a few concurrent predictions the server holds hundreds of MB it no
longer uses, and its RSS only grows. Two remedies, both no-ops where the C
library is not glibc (macOS, musl):

- :func:`limit_malloc_arenas` once per process, before the sessions' threads allocate;
- :func:`release_freed_memory` after each script run: ``malloc_trim(0)``
  hands the free pages of every arena back to the system.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_ARENA_MAX = -8  # mallopt parameter number, from glibc's malloc.h
ARENAS = 2


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
