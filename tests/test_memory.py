"""The server hands freed memory back: glibc's arenas are capped and trimmed (issue 12, flat RSS under load)."""

import os
import threading

import numpy as np
import pytest

from crnn.app import memory

glibc_only = pytest.mark.skipif(memory._glibc() is None, reason="glibc only (malloc_trim, mallopt)")


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _fragment(kept: list) -> None:
    # 3,000 blocks of 64 KB (below glibc's mmap threshold, so from an arena); every 8th stays alive,
    # which pins the arena's top so free() alone cannot give the pages back
    blocks = [np.ones(8192) for _ in range(3000)]
    kept.extend(blocks[::8])


@glibc_only
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


@glibc_only
def test_arenas_can_be_capped():
    assert memory.limit_malloc_arenas()


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_trims_when_the_last_run_in_flight_ends():
    trims: list[int] = []
    idle = memory.IdleTrim(max_interval_s=10.0, trim=lambda: trims.append(1) or True, clock=_Clock())
    with idle.run():
        with idle.run():  # a second session's run, overlapping
            pass
        assert trims == []  # the first run is still in flight
    assert trims == [1]
    with idle.run():
        pass
    assert trims == [1, 1]


def test_a_server_that_is_never_idle_still_trims_every_interval():
    clock, trims = _Clock(), []
    idle = memory.IdleTrim(max_interval_s=10.0, trim=lambda: trims.append(clock.t) or True, clock=clock)
    with idle.run():  # one long run keeps the server busy throughout
        for t in [4.0, 9.0, 12.0, 15.0, 23.0]:
            clock.t = t
            with idle.run():
                pass
        assert trims == [12.0, 23.0]
        clock.t = 24.0
    assert trims == [12.0, 23.0, 24.0]  # and once more when it goes idle


def test_a_failing_run_still_counts_as_ended():
    trims: list[int] = []
    idle = memory.IdleTrim(trim=lambda: trims.append(1) or True, clock=_Clock())
    with pytest.raises(RuntimeError):
        with idle.run():
            raise RuntimeError("page failed")
    assert trims == [1]
    with idle.run():
        with idle.run():
            pass
        assert trims == [1]  # the failed run is not counted as still running
