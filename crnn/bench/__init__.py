"""Speed of the interpretability tools, printed by ``crnn bench``.

Goals (2-core CPU): representation extraction over RAVDESS ≥ 50× real time
for the FST-CLDNN; a probe (LDA, ρ and the SVM for four modules and three
labels) from cached representations ≤ 2 s; cells of a 4 s clip ≤ 0.5 s;
Integrated Gradients with 32 steps on a 4 s clip ≤ 2 s; ``crnn predict`` on
one shipped example clip from a fresh process ≤ 2.5 s wall
(:func:`predict_cold`). Also: Praat F0 (the
project's pitch tracker) against ``librosa.pyin`` on a few clips, speed ratio
and agreement on frames both call voiced. :func:`crnn.bench.browser.run` adds
the app's timings under "app".
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from crnn.core.defaults import CHECKPOINT_DIR, DEFAULT_MODEL, RAVDESS, SAMPLE_RATE
from crnn.core.errors import CrnnError

CLIP_SECONDS = 4.0
PREDICT_COLD_GOAL_S = 2.5
PREDICT_COLD_RUNS = 3


def _goal(value: float, goal: float, unit: str, higher_is_better: bool = False) -> dict:
    ok = value >= goal if higher_is_better else value <= goal
    return {"value": round(float(value), 4), "goal": goal, "unit": unit, "ok": bool(ok)}


def _model(name: str) -> tuple[torch.nn.Module, bool]:
    """(model in eval mode, trained?): the trained checkpoint if there is one, else the untrained architecture
    (speed is the same)."""
    from crnn.core.checkpoint import load_checkpoint

    try:
        return load_checkpoint(name)[0], True
    except CrnnError:
        from crnn.core.models import build_model

        return build_model(name, 8).eval(), False


def _clip(corpus) -> np.ndarray:
    """A 4 s clip: the first utterance of the corpus at least that long (else looped)."""
    from crnn.core.audio import load_audio

    n = int(CLIP_SECONDS * SAMPLE_RATE)
    path = next((u.path for u in corpus.utterances if u.duration >= CLIP_SECONDS), corpus.utterances[0].path)
    wave = load_audio(path)
    return np.resize(wave, n).astype(np.float32)


def f0_agreement(waves: list[np.ndarray]) -> dict:
    """Praat F0 (:func:`crnn.core.prosody.f0_hz`) vs ``librosa.pyin`` on the same 10 ms grid and F0 range.

    Returns the seconds each took, their ratio, and the median |ΔF0| in Hz and
    in cents over frames both call voiced.
    """
    import librosa

    from crnn.core.features import HOP_LENGTH, frame_times
    from crnn.core.prosody import F0_MAX_HZ, F0_MIN_HZ, f0_hz

    praat_s = pyin_s = 0.0
    hz, cents, both = [], [], 0
    for wave in waves:
        start = time.perf_counter()
        ours = f0_hz(wave)
        praat_s += time.perf_counter() - start
        start = time.perf_counter()
        theirs, voiced, _ = librosa.pyin(wave, fmin=F0_MIN_HZ, fmax=F0_MAX_HZ, sr=SAMPLE_RATE,
                                         frame_length=1024, hop_length=HOP_LENGTH, center=True)
        pyin_s += time.perf_counter() - start
        # pyin frame k is centred at k·10 ms; take the nearest to each grid frame
        idx = np.clip(np.round(frame_times(len(ours)) * SAMPLE_RATE / HOP_LENGTH).astype(int), 0, len(theirs) - 1)
        theirs = np.where(voiced[idx], theirs[idx], np.nan)
        ok = np.isfinite(ours) & np.isfinite(theirs)
        both += int(ok.sum())
        hz.append(np.abs(ours[ok] - theirs[ok]))
        cents.append(np.abs(1200.0 * np.log2(ours[ok] / theirs[ok])))
    hz_all, cents_all = np.concatenate(hz), np.concatenate(cents)
    return {
        "clips": len(waves),
        "praat_seconds": round(praat_s, 3),
        "pyin_seconds": round(pyin_s, 3),
        "pyin_over_praat_time": round(pyin_s / max(praat_s, 1e-9), 1),
        "frames_both_voiced": both,
        "median_abs_diff_hz": round(float(np.median(hz_all)), 2) if both else None,
        "median_abs_diff_cents": round(float(np.median(cents_all)), 1) if both else None,
    }


def _seconds(fn: Callable, *args, **kwargs) -> float:
    """Wall-clock seconds of one call ``fn(*args, **kwargs)``."""
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def _timed_probe(reps) -> dict:
    """Seconds for the LDA of every module × label and the probe with the speaker SVM (goal ≤ 2 s), and without it."""
    from crnn.analysis.probe import LABELS, probe_projections, probe_scores

    def everything() -> None:
        probe_projections(reps)
        probe_scores(reps, svm_labels=LABELS)

    out = _goal(_seconds(everything), 2.0, "s")
    out["without_speaker_svm_s"] = round(_seconds(probe_scores, reps), 3)
    return out


def _timed_intervals(reps) -> dict:
    """Seconds for the probe with 95 % speaker-bootstrap intervals (200 resamples), control task and selectivity:
    ρ of 4 modules × 3 labels, the emotion and gender SVMs on the speaker split (goal ≤ 2 s)."""
    from crnn.analysis.probe import probe_scores, split_svm_predictions
    from crnn.analysis.robust_probe import split_intervals

    def both() -> None:
        fitted = split_svm_predictions(reps)  # the probes both share, fitted once
        probe_scores(reps, predictions=fitted), split_intervals(reps, predictions=fitted)

    return _goal(_seconds(both), 2.0, "s")


def _timed_cells(net, clip: np.ndarray) -> dict:
    """Seconds for the cells × prosody correlations of a 4 s clip, its prosody tracks given (goal ≤ 0.5 s)."""
    from crnn.analysis.cells import cell_correlations
    from crnn.core.prosody import prosody_tracks

    tracks = prosody_tracks(clip)
    cell_correlations(net, clip[:16000])  # the first call imports pandas: outside the timing, as for IG below
    out = _goal(_seconds(cell_correlations, net, clip, tracks=tracks), 0.5, "s")
    out["prosody_tracks_s"] = round(_seconds(prosody_tracks, clip), 3)
    return out


def _timed_ig(net, clip: np.ndarray) -> dict:
    """Seconds for Integrated Gradients with 32 steps on a 4 s clip (goal ≤ 2 s)."""
    from crnn.analysis.explain import explain

    explain(net, clip[:16000], method="saliency")  # imports Captum outside the timing
    return _goal(_seconds(explain, net, clip, n_steps=32), 2.0, "s")


def predict_cold(runs: int = PREDICT_COLD_RUNS) -> dict:
    """Wall seconds of ``crnn predict <shipped example clip>`` in a fresh process (goal ≤ 2.5 s), median of ``runs``.

    Each run is a new Python process, so imports, loading the default model
    and decoding the clip are all counted, as a user running the command
    meets them (the files are in the page cache after the first run). Also
    reported: the CPU seconds of those processes ("cpu_s", what wall time
    would be on an idle machine) and the wall time of a process that only
    imports torch, the floor, measured at the same moment.
    """
    clip = min((CHECKPOINT_DIR / "examples").glob("*.flac"))
    entry = Path(sys.executable).with_name("crnn")
    command = [str(entry)] if entry.is_file() else [sys.executable, "-m", "crnn.cli"]
    import resource

    def children_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    seconds, cpu = [], []
    for _ in range(runs):
        start, cpu_start = time.perf_counter(), children_cpu()
        done = subprocess.run([*command, "predict", str(clip)], capture_output=True, text=True, timeout=300)
        seconds.append(time.perf_counter() - start)
        cpu.append(children_cpu() - cpu_start)
        if done.returncode != 0:
            raise CrnnError(f"crnn predict exited with code {done.returncode}: {done.stderr.strip()[-300:]}")
    floor = []  # the same machine, same moment: a process that only imports torch
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, timeout=300)
        floor.append(time.perf_counter() - start)
    out = _goal(float(np.median(seconds)), PREDICT_COLD_GOAL_S, "s")
    out.update(statistic="median", all=[round(s, 3) for s in seconds], clip=clip.name,
               cpu_s=round(float(np.median(cpu)), 3), import_torch_only_s=round(float(np.median(floor)), 3))
    return out


def _step(steps: dict, name: str, fn: Callable[[], dict]) -> None:
    """``steps[name] = fn()``, or {"error": message}: a benchmark reports what broke and goes on."""
    try:
        steps[name] = fn()
    except Exception as exc:
        steps[name] = {"error": f"{type(exc).__name__}: {exc}"}


def run_bench(
    model: str = DEFAULT_MODEL, corpus: str | Path | None = None, n_f0_clips: int = 3, app: bool = True
) -> dict:
    """Time the probe, cells, attribution and F0 steps on RAVDESS; returns a JSON-friendly dict of figures.

    Each entry that has a goal is {"value", "goal", "unit", "ok"}; a step
    that fails reports {"error": message} and the others still run.
    ``app=False`` skips the browser timings of :mod:`crnn.bench.browser`.
    """
    from crnn.core.audio import load_audio
    from crnn.core.corpora import read_corpus
    from crnn.tasks.probe import module_representations

    corpus_path = Path(corpus) if corpus is not None else RAVDESS
    if not corpus_path.exists():
        raise CrnnError(f"benchmark corpus {corpus_path} does not exist")
    data = read_corpus(corpus_path)
    net, trained = _model(model)
    result: dict = {"model": model, "trained_checkpoint": trained, "corpus": data.name, "utterances": len(data),
                    "audio_seconds": round(data.total_seconds, 1), "torch_threads": torch.get_num_threads()}
    steps: dict = {}
    _step(steps, "predict_cold_s", predict_cold)
    reps = []

    def extraction() -> dict:
        seconds = _seconds(lambda: reps.append(module_representations(net, data, use_cache=False)))  # decoding included
        return _goal(data.total_seconds / seconds, 50.0, "× real time", higher_is_better=True)

    _step(steps, "extract_representations", extraction)
    if reps:
        _step(steps, "probe_from_cached", lambda: _timed_probe(reps[0]))
        _step(steps, "probe_with_intervals_from_cached", lambda: _timed_intervals(reps[0]))
    clip = _clip(data)
    _step(steps, "cells_4s", lambda: _timed_cells(net, clip))
    _step(steps, "integrated_gradients_32_steps_4s", lambda: _timed_ig(net, clip))
    from crnn.bench import lab

    lab.add_steps(steps, _step, model, corpus_path, net, clip)  # ablation, what-if, CKA
    from crnn.bench.training import training_throughput

    _step(steps, "training_utterances_per_s_one_thread", lambda: {"value": training_throughput(), "unit": "utt/s"})
    f0_clips = data.utterances[:: max(1, len(data) // n_f0_clips)][:n_f0_clips]
    _step(steps, "f0_praat_vs_pyin", lambda: f0_agreement([load_audio(u.path) for u in f0_clips]))
    if app:
        from crnn.bench import browser

        _step(steps, "app", browser.run)
    result["steps"] = steps
    return result
