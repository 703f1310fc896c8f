"""The server hands freed memory back: glibc's arenas are capped and trimmed (issue 12, flat RSS under load)."""

import os
import threading

import numpy as np
import pytest

from crnn.app import memory

pytestmark = pytest.mark.skipif(memory._glibc() is None, reason="glibc only (malloc_trim, mallopt)")


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _fragment(kept: list) -> None:
    # 3,000 blocks of 64 KB (below glibc's mmap threshold, so from an arena); every 8th stays alive,
    # which pins the arena's top so free() alone cannot give the pages back
    blocks = [np.ones(8192) for _ in range(3000)]
    kept.extend(blocks[::8])


@pytest.mark.parametrize("in_thread", [False, True], ids=["main arena", "a session thread's arena"])
def test_freed_memory_goes_back_to_the_system(in_thread):
    kept: list = []
    memory.release_freed_memory()  # what earlier tests freed would otherwise be reused without growing RSS
    before = _rss_mb()
    if in_thread:
        t = threading.Thread(target=_fragment, args=(kept,))
        t.start()
        t.join()
    else:
        _fragment(kept)
    held = _rss_mb() - before  # ~170 MB freed but still resident
    assert held > 120
    assert memory.release_freed_memory()
    assert _rss_mb() - before < held - 100
    assert len(kept) == 375


def test_arenas_can_be_capped():
    assert memory.limit_malloc_arenas()
