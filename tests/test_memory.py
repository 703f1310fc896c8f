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


def test_a_leak_raises_the_memory_trend_and_the_swing_of_requests_does_not():
    """``crnn bench --load`` judges "flat" memory by the trend of the last two minutes (MB per minute)."""
    from crnn.bench.load import rss_trend_mb_per_min

    t = np.arange(0, 121, 5.0)  # (25,) a sample every 5 s for 2 minutes
    swing = 1000 + 150 * np.where(np.arange(len(t)) % 2 == 0, 1.0, -1.0)  # ±150 MB between samples, no drift
    leak = 1000 + 30 * t / 60  # 30 MB more every minute
    samples = lambda mb: [{"t_s": float(a), "mb": float(b)} for a, b in zip(t, mb)]  # noqa: E731
    assert abs(rss_trend_mb_per_min(samples(swing))) < 10
    assert rss_trend_mb_per_min(samples(leak)) == pytest.approx(30, abs=0.1)
    assert rss_trend_mb_per_min(samples(leak)[:2]) is None
