"""``crnn bench --load`` in miniature: one browser session for a few seconds against a local server.

The full run (8 sessions × 5 minutes) is a benchmark, not a test; this checks
that the load test drives the app without errors and reports its figures.
Skips cleanly when Playwright or Chromium is missing.
"""

from __future__ import annotations

import pytest

pytest.importorskip("playwright.sync_api")
from crnn.bench import browser as bench_app  # noqa: E402

if bench_app.browser_available():
    pytest.skip(bench_app.browser_available(), allow_module_level=True)


def test_one_session_for_a_few_seconds_uploads_switches_pages_and_samples_memory(monkeypatch):
    from crnn.bench import load

    monkeypatch.setattr(load, "OTHER_PAGES", ["Model zoo"])  # the lightest page: keeps the test short
    result = load.run_load(sessions=1, minutes=0.05, rss_every_s=1.0)
    assert result["errors"] == 0, result["error_messages"]
    assert result["uploads"] >= 1 and result["rounds"] >= 1
    lat = result["upload_to_prediction_s"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["max"]
    server = result["server_run_to_answer_s"]  # the server's part of each wait, logged by page 1
    assert server["n"] == result["uploads"] and 0 < server["p50"] <= server["max"] <= lat["max"]
    assert result["server_rss_over_time"] and all(s["mb"] > 50 for s in result["server_rss_over_time"])
    cpu = result["cpu_s"]
    assert 0 < cpu["server"] <= cpu["machine_busy"] <= cpu["machine_capacity"] * 1.05
    text = load.load_text(result)
    assert "p90" in text and "server RSS" in text and "server's script run" in text and "0 errors" in text and "server's share" in text


def test_cpu_seconds_of_a_busy_process_and_of_the_machine():
    import os
    import time

    from crnn.bench import load

    me, machine = load._process_cpu_s(os.getpid()), load._machine_busy_cpu_s()
    end = time.process_time() + 0.3
    while time.process_time() < end:  # 0.3 s of this process's CPU
        pass
    used = load._process_cpu_s(os.getpid()) - me
    assert 0.25 <= used <= 0.6
    assert load._machine_busy_cpu_s() - machine >= used - 0.05
    assert load._process_cpu_s(2**22 + 1) is None  # above the kernel's pid limit: no such process


def test_the_load_test_refuses_no_sessions():
    from crnn.bench import load
    from crnn.core.errors import CrnnError

    with pytest.raises(CrnnError, match="sessions"):
        load.run_load(sessions=0, minutes=1)


def _descendants_nice(root: int) -> dict[int, tuple[str, int]]:
    """{pid: (name, nice)} of every process below ``root`` (from /proc)."""
    from pathlib import Path

    stats = {}
    for proc in Path("/proc").iterdir():
        try:
            name, rest = (proc / "stat").read_text().split(" (", 1)[1].rsplit(")", 1)
            fields = rest.split()  # from field 3 (state) on
            stats[int(proc.name)] = (int(fields[1]), name, int(fields[16]))  # (ppid, name, nice)
        except (OSError, ValueError, IndexError):
            continue
    below, grew = {root}, True
    while grew:
        new = {pid for pid, (ppid, _, _) in stats.items() if ppid in below} - below
        below, grew = below | new, bool(new)
    return {pid: stats[pid][1:] for pid in below - {root} if pid in stats}


def test_with_browser_nice_every_browser_process_runs_at_that_lower_priority():
    """Chromium run by root lifts its browser and GPU processes to nice -8; with ``nice`` none may go below it."""
    import os

    with bench_app.browser(nice=7) as chromium:
        chromium.new_page().goto("about:blank")
        nices = _descendants_nice(os.getpid())
    browsers = {pid: nice for pid, (name, nice) in nices.items() if "chrom" in name}
    expected = min(19, os.nice(0) + 7)  # `nice -n 7` is relative: 7 under a test run at nice 0
    assert len(browsers) >= 3 and set(browsers.values()) == {expected}, nices


def test_the_load_test_refuses_a_browser_priority_out_of_range():
    from crnn.bench import load
    from crnn.core.errors import CrnnError

    with pytest.raises(CrnnError, match="browser-nice"):
        load.run_load(sessions=1, minutes=1, browser_nice=25)
