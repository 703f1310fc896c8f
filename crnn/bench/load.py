"""``crnn bench --load``: several people using one app server at once, in headless Chromium.

:func:`run_load` starts ``streamlit run app.py`` on 127.0.0.1 (headless, no
file watcher) and drives ``sessions`` browser sessions (default 8) for
``minutes`` minutes (default 5). Each session, in its own browser, loops:
upload a 5 s clip made from a shipped example (a different one every time,
so no cached answer is reused), wait for its prediction, open another page,
come back to "Listen and predict". Every loop is bounded (a deadline and a
maximum number of rounds) and nothing but the loopback address is reached.

Reported: errors (a step that timed out or a page that shows an exception),
upload → prediction p50, p90 and max (goal: p90 ≤ 4 s for 8 sessions on 2
cores), the server's resident memory over time (read from /proc; goal:
≤ 2 GB and flat over the last two minutes: its range, and its trend in MB
per minute, which a leak raises and the coming and going of requests does
not), and the CPU time the server and the whole machine used while
measured: on a small machine the browsers compete with the server, and this
says how much of the wait is the app's.
The server's own part of each wait is reported too: page 1 logs, for every
upload, the seconds from the start of its script run to the prediction
handed to Streamlit (:mod:`crnn.app.timing`, through ``CRNN_TIMINGS_FILE``);
the rest is the upload, the websocket and the browser drawing the page.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from crnn.bench import browser as app_bench
from crnn.core.defaults import PROJECT_DIR, SAMPLE_RATE, TIMINGS_ENV
from crnn.core.errors import CrnnError

SESSIONS = 8
MINUTES = 5.0
P90_GOAL_S = 4.0
RSS_GOAL_MB = 2048
RSS_EVERY_S = 5.0  # one server memory sample this often
MAX_ROUNDS = 10_000  # per session: a bound on the loop besides the deadline
STEP_TIMEOUT_S = 120.0  # one upload or page switch longer than this counts as an error
OTHER_PAGES = ["Inside the model", "Cells and prosody", "Why this prediction", "Noise lab", "Model zoo"]
LISTEN = "Listen and predict"


def _rss_mb(pid: int) -> float | None:
    """Resident memory of process ``pid`` in MB (from /proc), None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _process_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) process ``pid`` has used so far, None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14, 15 of stat


def _machine_busy_cpu_s() -> float | None:
    """CPU seconds every core of the machine has spent busy (not idle, not waiting for I/O) since boot."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # guest time is already counted in user


def _server_pid(port: int) -> int | None:
    """The pid of the ``streamlit run`` child of this process that listens on ``port``."""
    me = str(os.getpid())
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            ppid = (proc / "stat").read_text().rsplit(")", 1)[1].split()[1]
        except (OSError, IndexError):
            continue
        if ppid == me and b"streamlit" in cmdline and str(port).encode() in cmdline:
            return int(proc.name)
    return None


class _Clips:
    """5 s WAV uploads from the shipped example clips, each slightly different (no cache hit), in one folder."""

    def __init__(self, folder: Path):
        from crnn.core.audio import load_audio

        examples = sorted((PROJECT_DIR / "checkpoints" / "examples").glob("*.flac"))
        if not examples:
            raise CrnnError("no example clips in checkpoints/examples to upload")
        n = int(app_bench.CLIP_SECONDS * SAMPLE_RATE)
        self.waves = [np.resize(load_audio(path), n).astype(np.float32) for path in examples]
        self.folder = folder
        self.uploaded: set[str] = set()  # file names, as page 1 shows them after "📁 "

    def make(self, session: int, k: int) -> Path:
        import soundfile as sf

        wave = self.waves[(session + k) % len(self.waves)] * np.float32(0.9 - 0.3 * ((k * 7 + session) % 50) / 50)
        path = self.folder / f"s{session}_{k}.wav"
        self.uploaded.add(path.name)
        sf.write(path, wave, SAMPLE_RATE, subtype="PCM_16")
        return path


def _shows_exception(page: Any) -> bool:
    return page.locator('[data-testid="stException"]').count() > 0 or "Traceback" in page.inner_text("body")


def _go_to(page: Any, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    page.get_by_role("heading", name=title).wait_for(timeout=STEP_TIMEOUT_S * 1000)
    app_bench.wait_idle(page, STEP_TIMEOUT_S)


def _session(url: str, number: int, clips: _Clips, start: threading.Event, deadline: list[float], out: dict,
             nice: int = 0) -> None:
    """One visitor: its own headless Chromium, looping upload → prediction → another page → back until the deadline."""
    latencies, errors = out["latencies"], out["errors"]

    def fail(where: str, exc: BaseException | None = None) -> None:
        errors.append(f"session {number}, {where}: " + (f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
                                                        if exc is not None else "the page shows an exception"))

    try:
        with app_bench.browser(nice) as chromium:
            page = chromium.new_page(viewport={"width": 1400, "height": 1400})
            page.goto(url)
            page.get_by_role("heading", name=LISTEN).wait_for(timeout=STEP_TIMEOUT_S * 1000)
            app_bench.wait_idle(page, STEP_TIMEOUT_S)
            out["ready"] = True
            start.wait()
            for k in range(MAX_ROUNDS):
                if k > 0 and time.monotonic() >= deadline[0]:
                    break
                clip = clips.make(number, k)
                try:
                    t0 = time.perf_counter()
                    app_bench.upload(page, clip)
                    app_bench.wait_prediction(page, f"📁 {clip.name}", STEP_TIMEOUT_S)
                    latencies.append(time.perf_counter() - t0)
                    if _shows_exception(page):
                        fail(f"upload {k}")
                    _go_to(page, OTHER_PAGES[(number + k) % len(OTHER_PAGES)])
                    if _shows_exception(page):
                        fail(f"page {OTHER_PAGES[(number + k) % len(OTHER_PAGES)]}")
                    _go_to(page, LISTEN)
                except Exception as exc:  # a load test counts failures and goes on
                    fail(f"round {k}", exc)
                    page.goto(url)  # start afresh, as a visitor reloading would
                    page.get_by_role("heading", name=LISTEN).wait_for(timeout=STEP_TIMEOUT_S * 1000)
                finally:
                    clip.unlink(missing_ok=True)
                out["rounds"] = k + 1
            page.close()
    except Exception as exc:  # the browser itself failed: one error, the session ends
        fail("browser", exc)


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


class _RssSampler(threading.Thread):
    """Samples a process's resident memory every ``every_s`` seconds; ``restart`` sets the clock to zero."""

    def __init__(self, pid: int | None, every_s: float):
        super().__init__(daemon=True)
        self.pid, self.every_s, self.samples, self.t_zero = pid, every_s, [], time.perf_counter()
        self.halt = threading.Event()
        self.cpu_at_zero = self.cpu_s()

    def run(self) -> None:
        while not self.halt.is_set():
            self.add()
            self.halt.wait(self.every_s)

    def add(self) -> None:
        mb = _rss_mb(self.pid) if self.pid is not None else None
        if mb is not None:
            self.samples.append({"t_s": round(time.perf_counter() - self.t_zero, 1), "mb": round(mb, 1)})

    def cpu_s(self) -> tuple[float | None, float | None]:
        """(server, whole machine busy) CPU seconds so far."""
        return _process_cpu_s(self.pid) if self.pid is not None else None, _machine_busy_cpu_s()

    def restart(self) -> None:
        self.t_zero = time.perf_counter()
        self.samples.clear()
        self.cpu_at_zero = self.cpu_s()

    def stop(self) -> float:
        """Stop, take a last sample and return the seconds since :meth:`restart`."""
        self.halt.set()
        self.join(timeout=self.every_s + 1)
        self.add()
        self.cpu_used = tuple(None if a is None or b is None else round(b - a, 1)
                              for a, b in zip(self.cpu_at_zero, self.cpu_s(), strict=True))
        return time.perf_counter() - self.t_zero


def run_load(sessions: int = SESSIONS, minutes: float = MINUTES, rss_every_s: float = RSS_EVERY_S,
             browser_nice: int = 0) -> dict:
    """Drive ``sessions`` browser sessions against a fresh local server for ``minutes``; returns the figures.

    The clock starts once every session has its first page; sessions already
    in a round when time is up finish it. ``browser_nice`` above 0 runs the
    browsers at that lower CPU priority: on one machine they otherwise take
    most of its CPU from the server, which visitors' own computers would not.
    CrnnError if Playwright or Chromium is missing, or for a non-positive
    ``sessions`` or ``minutes``, or a ``browser_nice`` outside 0-19.
    """
    if sessions < 1 or minutes <= 0:
        raise CrnnError("--sessions must be at least 1 and --minutes above 0")
    if not 0 <= browser_nice <= 19:
        raise CrnnError("--browser-nice must be between 0 and 19")
    missing = app_bench.browser_available()
    if missing:
        raise CrnnError(f"cannot run the load test: {missing}")
    results = [{"latencies": [], "errors": [], "rounds": 0, "ready": False} for _ in range(sessions)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env, trained = app_bench.demo_models(tmp / "models")
        clips, port = _Clips(tmp), app_bench.free_port()
        timings = tmp / "server_timings.jsonl"
        with app_bench.serve({"CRNN_CACHE_DIR": str(tmp / "cache"), TIMINGS_ENV: str(timings), **env}, port=port) as (url, _):
            sampler = _RssSampler(_server_pid(port), rss_every_s)
            begin, deadline = threading.Event(), [float("inf")]
            threads = [threading.Thread(target=_session, args=(url, n, clips, begin, deadline, results[n], browser_nice),
                                        daemon=True)
                       for n in range(sessions)]  # fmt: skip
            sampler.start()
            for thread in threads:
                thread.start()
            open_by = time.monotonic() + STEP_TIMEOUT_S * 2
            while not all(r["ready"] for r in results) and time.monotonic() < open_by and any(t.is_alive() for t in threads):
                time.sleep(0.2)
            sampler.restart()
            deadline[0] = time.monotonic() + minutes * 60
            begin.set()
            for thread in threads:
                thread.join(timeout=max(0.0, deadline[0] - time.monotonic()) + STEP_TIMEOUT_S * 4)
            wall = sampler.stop()
        server_s = _server_answer_seconds(timings, clips.uploaded)
    for n, thread in enumerate(threads):
        if thread.is_alive():
            results[n]["errors"].append(f"session {n}: still running when the load test ended")
    return _summary(sessions, minutes, trained, results, sampler.samples, wall) | {
        "browser_nice": browser_nice, "server_run_to_answer_s": _spread(server_s), "cpu_s": _cpu_summary(*sampler.cpu_used, wall)}


def _server_answer_seconds(timings: Path, uploaded: set[str]) -> list[float]:
    """Seconds from the start of the script run to the prediction handed to Streamlit, first run of each upload."""
    first: dict[str, float] = {}
    if timings.exists():
        for line in timings.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            name = record["clip"].removeprefix("📁 ")
            if name in uploaded and name not in first:
                first[name] = float(record["seconds"])
    return list(first.values())


def _spread(values: list[float]) -> dict:
    return {"n": len(values), "p50": _percentile(values, 50), "p90": _percentile(values, 90), "max": _percentile(values, 100)}


def _cpu_summary(server: float | None, machine: float | None, wall: float) -> dict:
    """CPU seconds used while measured by the server and by the whole machine (browsers, server, anything else)."""
    cores = os.cpu_count() or 1
    return {"server": server, "machine_busy": machine, "machine_capacity": round(wall * cores, 1), "cores": cores,
            "server_share_of_busy": round(server / machine, 3) if server is not None and machine else None}


def _summary(sessions: int, minutes: float, trained: bool, results: list[dict], samples: list[dict], wall: float) -> dict:
    latencies = [s for r in results for s in r["latencies"]]
    errors = [e for r in results for e in r["errors"]]
    rss = [s["mb"] for s in samples]
    last = [s for s in samples if s["t_s"] >= wall - 120]
    p90 = _percentile(latencies, 90)
    return {
        "sessions": sessions,
        "minutes": minutes,
        "seconds_measured": round(wall, 1),
        "trained_checkpoint": trained,
        "rounds": sum(r["rounds"] for r in results),
        "uploads": len(latencies),
        "errors": len(errors),
        "error_messages": errors[:20],
        "upload_to_prediction_s": {"p50": _percentile(latencies, 50), "p90": p90, "max": _percentile(latencies, 100),
                                   "goal_p90": P90_GOAL_S, "ok": bool(p90 is not None and p90 <= P90_GOAL_S)},
        "server_rss_mb": {"start": rss[0] if rss else None, "end": rss[-1] if rss else None,
                          "max": max(rss) if rss else None, "last_2_min_range": _range([s["mb"] for s in last]),
                          "last_2_min_trend_mb_per_min": rss_trend_mb_per_min(last),
                          "goal_max": RSS_GOAL_MB, "ok": bool(rss and max(rss) <= RSS_GOAL_MB)},
        "server_rss_over_time": samples,
    }  # fmt: skip


def _range(values: list[float]) -> float | None:
    return round(max(values) - min(values), 1) if values else None


def rss_trend_mb_per_min(samples: list[dict]) -> float | None:
    """Least-squares slope of memory over time, MB per minute, of ``{"t_s", "mb"}`` samples; None below 3 samples.

    A leak shows as a steady rise; the swing of requests coming and going (the
    range) does not move it.
    """
    if len(samples) < 3:
        return None
    minutes = np.array([s["t_s"] for s in samples]) / 60
    if np.ptp(minutes) == 0:
        return None
    return round(float(np.polyfit(minutes, np.array([s["mb"] for s in samples]), 1)[0]), 1)


def load_text(result: dict) -> str:
    """The figures of :func:`run_load` as lines for the terminal."""
    lat, rss = result["upload_to_prediction_s"], result["server_rss_mb"]
    lines = [
        f"{result['sessions']} sessions × {result['minutes']:g} min ({result['seconds_measured']:.0f} s measured): "
        f"{result['rounds']} rounds, {result['uploads']} uploads, {result['errors']} errors"
        + (f", browsers at nice {result['browser_nice']}" if result.get("browser_nice") else ""),
        *[f"  error: {message}" for message in result["error_messages"]],
        f"upload → prediction: p50 {lat['p50']} s, p90 {lat['p90']} s (goal ≤ {lat['goal_p90']:g} s), max {lat['max']} s",
        _server_text(result["server_run_to_answer_s"]),
        f"server RSS: {rss['start']} → {rss['end']} MB, max {rss['max']} MB (goal ≤ {rss['goal_max']} MB), "
        f"over the last 2 min: range {rss['last_2_min_range']} MB, trend {rss['last_2_min_trend_mb_per_min']} MB/min",
        _cpu_text(result["cpu_s"]),
        "server RSS over time (s: MB): " + ", ".join(f"{s['t_s']:g}: {s['mb']:.0f}" for s in result["server_rss_over_time"]),
    ]
    return "\n".join(lines)


def _server_text(server: dict) -> str:
    return (f"of which the server's script run, from its start to the prediction handed to Streamlit: p50 {server['p50']} s, "
            f"p90 {server['p90']} s, max {server['max']} s ({server['n']} uploads)")


def _cpu_text(cpu: dict) -> str:
    share = cpu["server_share_of_busy"]
    return (f"CPU while measured: server {cpu['server']} s, whole machine busy {cpu['machine_busy']} s of "
            f"{cpu['machine_capacity']} s ({cpu['cores']} cores)"
            + (f"; the server's share {share:.0%}" if share is not None else ""))
