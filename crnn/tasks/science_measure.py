"""The measurements behind ``crnn science``: module probes with controls, and LSTM cells against prosody.

:func:`probe_measurement` probes a model's least flattering representations
(:func:`crnn.tasks.oof.scoped_representations`: out of fold, or its test
speakers only) and the same architecture with random weights, with
speaker-grouped cross-validation and speaker-bootstrap intervals
(:func:`crnn.analysis.robust_probe.robust_probe`).
:func:`cell_measurement` correlates every LSTM cell state with prosody over
a spread sample of a corpus, for the trained model and its untrained copy;
the per-clip correlations are cached.
"""

from __future__ import annotations

import os

import numpy as np

from crnn.analysis.cells import cell_correlations
from crnn.analysis.representations import weights_hash
from crnn.analysis.robust_probe import robust_probe
from crnn.analysis.science import best_cell
from crnn.core.cache import Progress, cache_key, file_stamps, load_arrays, save_arrays
from crnn.core.checkpoint import load_checkpoint
from crnn.core.corpora import Corpus
from crnn.core.data import load_waves
from crnn.core.errors import CrnnError
from crnn.core.prosody import FEATURES, prosody_tracks
from crnn.core.splits import spread_sample
from crnn.tasks.oof import scoped_representations, untrained_copy

CELL_SAMPLE = 48  # clips, spread over emotions and speakers (as `crnn cells --corpus`)
CELLS_FORMAT = "crnn-lens-science-cells/1"


def probe_measurement(model_ref: str | os.PathLike, corpus: Corpus, *, cache_dir=None, n_boot: int = 200,
                      progress: Progress | None = None) -> dict:
    """{"scope", "n_utterances", "speakers", "trained": robust probe, "control": robust probe of random weights}.

    Both probes keep their bootstrap samples ("samples") so the claims can
    pair modules; the same speakers and resampling weights serve both. Out
    of fold, every probe and inertia stays inside one fold model's space
    (``blocks``): five models' coordinates are not one space.
    """
    reps, ctrl = scoped_representations(model_ref, corpus, cache_dir=cache_dir, progress=progress)
    blocks = reps.meta.get("blocks")  # out of fold: probe inside each fold model's space, never across them
    ctrl_blocks = None
    if blocks is not None:
        block_of = dict(zip(reps.ids, blocks))
        ctrl_blocks = [block_of[i] for i in ctrl.ids]  # the same speaker groups for the random-weights copy
    trained = robust_probe(reps, scheme="cv", n_boot=n_boot, samples=True, blocks=blocks)
    control = robust_probe(ctrl, scheme="cv", n_boot=n_boot, samples=True, blocks=ctrl_blocks)
    return {"scope": reps.meta["scope"], "n_utterances": len(reps), "speakers": trained["speakers"],
            "model": reps.meta.get("model"), "modules": list(reps.modules), "trained": trained, "control": control}


def _clip_correlations(model, waves: list[np.ndarray], tracks: list[dict], state: str) -> dict[str, np.ndarray]:
    """feature → (n_clips, n_cells) Pearson r of every ``state`` cell with that feature, per clip."""
    out: dict[str, list[np.ndarray]] = {f: [] for f in FEATURES}
    for wave, track in zip(waves, tracks):
        table = cell_correlations(model, wave, tracks=track).table
        table = table[table.state == state].sort_values(["layer", "direction", "unit"], kind="stable")
        for f in FEATURES:
            out[f].append(table[table.feature == f].r.to_numpy(np.float64))
    return {f: np.stack(v) for f, v in out.items()}


def cell_matrices(model, key_hash: str, paths: list[str], waves, tracks, state: str, cache_dir) -> dict[str, np.ndarray]:
    """:func:`_clip_correlations`, cached under the weights and the files."""
    key = cache_key(CELLS_FORMAT, key_hash, state, [list(s) for s in file_stamps(paths)])
    stored = load_arrays("science_cells", key, cache_dir)
    if stored is not None and all(f in stored for f in FEATURES):
        return {f: stored[f] for f in FEATURES}
    if waves is None:
        return {}
    mats = _clip_correlations(model, waves, tracks, state)
    save_arrays("science_cells", key, mats, cache_dir)
    return mats


def cell_measurement(model_ref: str | os.PathLike, corpus: Corpus, *, state: str = "c", n_boot: int = 200,
                     cache_dir=None, sample: int = CELL_SAMPLE) -> dict:
    """Best cell per prosodic feature over a corpus sample, trained and untrained (random weights, seed 0).

    Returns {"model", "clips", "state", "features": {feature: {"trained":
    :func:`crnn.analysis.science.best_cell`, "control": the same for the
    untrained copy}}}. Clips are read whole (untrimmed), as ``crnn cells``.
    """
    model, card = load_checkpoint(model_ref)
    control = untrained_copy(card)
    utts = spread_sample(list(corpus.utterances), sample)
    paths = [str(u.path) for u in utts]
    hashes = (card.get("weights_sha256") or weights_hash(model), weights_hash(control))
    mats = [cell_matrices(m, h, paths, None, None, state, cache_dir) for m, h in zip((model, control), hashes)]
    if not all(mats):
        waves, problems = load_waves(paths, trim_top_db=None)
        if problems:
            raise CrnnError(f"cannot rank the cells: {problems[0]}")
        tracks = [prosody_tracks(w) for w in waves]
        mats = [cell_matrices(m, h, paths, waves, tracks, state, cache_dir) for m, h in zip((model, control), hashes)]
    speakers = np.array([u.speaker for u in utts])
    features = {f: {"trained": best_cell(mats[0][f], speakers, n_boot), "control": best_cell(mats[1][f], speakers, n_boot)}
                for f in FEATURES}
    return {"model": card.get("model"), "clips": len(paths), "state": state, "features": features}
