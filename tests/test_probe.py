"""Module probes (paper 001 Sec. 7.4): ρ, LDA, the SVM probe, the representation cache and bundles."""

import numpy as np
import pytest
import soundfile as sf
import torch
from sklearn.base import clone
from sklearn.preprocessing import StandardScaler
from tiny_model import TinyModel, register_tiny

from crnn.analysis import probe
from crnn.analysis.probe import LinearProbe, Representations, inertia_ratio, lda_projection
from crnn.core.checkpoint import checkpoint_hash, save_checkpoint
from crnn.core.errors import CrnnError
from crnn.tasks import probe as probe_task


def brute_force_rho(X, y):
    """Eqs. 15-17 written out with loops, as in the paper."""
    classes = sorted(set(y))
    centres = {c: np.mean([x for x, t in zip(X, y) if t == c], axis=0) for c in classes}
    omega_i = np.mean([np.mean([np.sum((centres[c] - x) ** 2) for x, t in zip(X, y) if t == c]) for c in classes])
    pairs = [np.sum((centres[a] - centres[b]) ** 2) for a in classes for b in classes if a != b]
    return omega_i / (sum(pairs) / (len(classes) ** 2 - len(classes)))


def test_inertia_ratio_hand_computed():
    X = np.array([[0.0], [2.0], [10.0], [12.0]])
    # centres 1 and 11: ω_i = 1, ω_o = 100
    assert inertia_ratio(X, ["a", "a", "b", "b"]) == pytest.approx(0.01)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    y = rng.integers(0, 3, 30)
    assert inertia_ratio(X, y) == pytest.approx(brute_force_rho(X, y))


def test_separated_clusters_have_small_rho():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1, 2], 40)
    centres = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0]], float)
    separated = centres[y] + rng.normal(size=(120, 3))
    overlapping = 0.1 * centres[y] + rng.normal(size=(120, 3))
    assert inertia_ratio(separated, y) < 0.1 < 1.0 < inertia_ratio(overlapping, y)


def test_rho_is_on_representations_not_projections():
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1], 50)
    X = np.column_stack([3.0 * y + rng.normal(size=100), rng.normal(size=100)])  # dim 1 is irrelevant
    scaled = X * [1.0, 10.0]
    # Scaling the irrelevant dimension by 10 adds ~99 × its within-class variance to ω_i, as Eq. 15 says.
    assert inertia_ratio(scaled, y) == pytest.approx(brute_force_rho(scaled, y))
    assert inertia_ratio(scaled, y) > 10 * inertia_ratio(X, y)
    # The LDA projection discards the irrelevant dimension, so its ρ hardly moves: the two measures differ.
    rho_lda = inertia_ratio(lda_projection(X, y), y)
    assert inertia_ratio(lda_projection(scaled, y), y) == pytest.approx(rho_lda, rel=1e-6)
    assert abs(rho_lda - inertia_ratio(scaled, y)) > 1.0


def test_lda_components_and_separation():
    rng = np.random.default_rng(3)
    y4 = np.repeat(list("abcd"), 25)
    X4 = np.eye(4)[np.searchsorted(list("abcd"), y4)] * 5 + rng.normal(size=(100, 4))
    assert lda_projection(X4, y4).shape == (100, 2)
    y2 = np.array(["female"] * 30 + ["male"] * 10)  # unequal classes: priors follow frequencies
    X2 = np.column_stack([(y2 == "male") * 4.0 + rng.normal(size=40), rng.normal(size=(40, 3))])
    z = lda_projection(X2, y2)
    assert z.shape == (40, 1)
    female, male = z[y2 == "female", 0], z[y2 == "male", 0]
    assert female.max() < male.min() or male.max() < female.min()


def test_linear_probe_is_an_estimator_scored_by_ua():
    rng = np.random.default_rng(4)
    y = np.array([0] * 90 + [1] * 10)
    X = rng.normal(size=(100, 3))  # no information: UA must be near chance even though accuracy could be 0.9
    est = clone(LinearProbe(C=0.5))
    assert est.get_params()["C"] == 0.5
    est.fit(X, y)
    pred = est.predict(X)
    recalls = [np.mean(pred[y == k] == k) for k in (0, 1)]
    assert est.score(X, y) == pytest.approx(np.mean(recalls))
    X_sep = X + 5 * y[:, None]
    assert LinearProbe().fit(X_sep, y).score(X_sep, y) == 1.0


def synthetic_reps(n_per=12, seed=0):
    """Speakers × emotions; 'mlp' encodes emotion, 'input' encodes speaker only."""
    rng = np.random.default_rng(seed)
    speakers = [f"{k:02d}" for k in range(1, 9)]
    emotions = ["anger", "sadness", "neutral"]
    rows = [(s, e) for s in speakers for e in emotions for _ in range(n_per // 3)]
    spk = np.array([s for s, _ in rows])
    emo = np.array([e for _, e in rows])
    gender = np.where(np.array([int(s) for s in spk]) % 2 == 1, "male", "female")
    s_idx = np.searchsorted(speakers, spk)
    e_idx = np.array([emotions.index(e) for e in emo])
    n = len(rows)
    modules = {
        "input": (np.eye(8)[s_idx] * 4 + rng.normal(size=(n, 8))).astype(np.float32),
        "mlp": (np.eye(3)[e_idx] * 4 + rng.normal(size=(n, 3))).astype(np.float32),
    }
    ids = np.array([f"Actor_{s}/{i:03d}.wav" for i, s in enumerate(spk)])
    split = {"train": speakers[:6], "validation": [], "test": speakers[6:]}
    return Representations(modules, ids, emo, spk, gender, {"split": split, "corpus": "synthetic"})


def test_probe_scores_follow_the_information():
    reps = synthetic_reps()
    out = probe.probe_scores(reps, svm_labels=probe.LABELS)
    rho = out["inertia_ratio"]
    assert rho["mlp"]["emotion"] < rho["input"]["emotion"]
    assert rho["input"]["speaker"] < rho["mlp"]["speaker"]
    assert out["svm_ua"]["mlp"] > 0.9 > 0.6 > out["svm_ua"]["input"]
    assert out["svm_ua_by_label"]["input"]["speaker"] > out["svm_ua_by_label"]["mlp"]["speaker"]
    assert out["svm_split"] == {"train": 72, "test": 24}


def test_scores_and_intervals_share_one_fit_per_probe(monkeypatch):
    from crnn.analysis.robust_probe import split_intervals

    reps = synthetic_reps()
    alone_scores, alone_intervals = probe.probe_scores(reps), split_intervals(reps)
    fits = []
    real_fit = LinearProbe.fit
    monkeypatch.setattr(LinearProbe, "fit", lambda self, X, y: fits.append(len(y)) or real_fit(self, X, y))
    fitted = probe.split_svm_predictions(reps)
    assert set(fitted) == {(m, lab) for m in ("input", "mlp") for lab in ("emotion", "gender")}
    n_shared = len(fits)
    shared_scores = probe.probe_scores(reps, predictions=fitted)
    shared_intervals = split_intervals(reps, predictions=fitted)
    assert shared_scores == alone_scores and shared_intervals == alone_intervals
    # the 4 split probes were fitted once; the rest are the control task's within-speaker fits
    assert n_shared == 4 and all(n != 72 for n in fits[n_shared:])


def write_corpus(root, seconds=(0.6, 0.62, 0.9, 1.1)):
    """A RAVDESS-layout folder of synthetic tones: pitch differs by emotion, so there is something to probe."""
    rng = np.random.default_rng(0)
    for actor in ("01", "02", "03", "04"):
        for code, f0 in (("01", 150.0), ("05", 300.0)):
            for k, sec in enumerate(seconds[:2] if actor in ("01", "02") else seconds[2:]):
                t = np.arange(int(sec * 16000)) / 16000
                wave = 0.3 * np.sin(2 * np.pi * f0 * (1 + 0.05 * k) * t) + 0.01 * rng.normal(size=len(t))
                folder = root / f"Actor_{actor}"
                folder.mkdir(parents=True, exist_ok=True)
                sf.write(folder / f"03-01-{code}-01-01-0{k + 1}-{actor}.wav", wave.astype(np.float32), 16000)
    return root


@pytest.fixture
def checkpoint_and_corpus(tmp_path, monkeypatch):
    register_tiny(monkeypatch)
    torch.manual_seed(0)
    model = TinyModel(2, hidden=6)
    card = {"model": "tiny", "model_kwargs": model.config, "labels": ["anger", "neutral"]}
    folder = save_checkpoint(model, card, tmp_path / "ckpt")
    return model, card, folder, write_corpus(tmp_path / "corpus")


def test_cache_is_reused_and_invalidated_by_a_new_checkpoint(checkpoint_and_corpus, tmp_path, monkeypatch):
    model, card, folder, corpus = checkpoint_and_corpus
    cache = tmp_path / "cache"
    calls = []
    original = TinyModel.module_outputs
    monkeypatch.setattr(TinyModel, "module_outputs", lambda self, w: calls.append(w.shape) or original(self, w))
    progress = []
    first = probe_task.representations_for(folder, corpus, cache_dir=cache, progress=progress.append)
    n_calls = len(calls)
    assert n_calls >= 1 and progress[-1] == {"event": "represent", "done": 16, "total": 16}
    assert {"event": "decode", "done": 16, "total": 16} in progress
    assert set(first.modules) == {"input", "cnn", "rnn", "mlp"} and first.modules["rnn"].shape == (16, 6)
    assert first.ids[0].startswith("Actor_01/")
    second = probe_task.representations_for(folder, corpus, cache_dir=cache)
    assert len(calls) == n_calls  # served from the cache
    np.testing.assert_array_equal(first.modules["mlp"], second.modules["mlp"])
    old_hash = checkpoint_hash(folder)
    with torch.no_grad():
        model.head.weight.add_(1.0)
        model.rnn.weight_hh_l0.mul_(-1.0)
    save_checkpoint(model, card, folder)
    assert checkpoint_hash(folder) != old_hash
    third = probe_task.representations_for(folder, corpus, cache_dir=cache)
    assert len(calls) > n_calls  # recomputed for the new weights
    assert not np.allclose(first.modules["rnn"], third.modules["rnn"])
    np.testing.assert_array_equal(first.modules["input"], third.modules["input"])


def test_batching_by_length_matches_one_by_one(checkpoint_and_corpus, tmp_path):
    model, _, _, corpus_root = checkpoint_and_corpus
    from crnn.core.corpora import read_corpus

    corpus = read_corpus(corpus_root)
    batched = probe_task.module_representations(model, corpus, use_cache=False, batch_size=8)
    single = probe_task.module_representations(model, corpus, use_cache=False, batch_size=1)
    # 0.6 s and 0.62 s clips share a batch cropped to 0.6 s; the last 20 ms hardly move the mean.
    np.testing.assert_allclose(batched.modules["mlp"], single.modules["mlp"], atol=0.05)
    assert list(batched.ids) == sorted(batched.ids)


def test_bundle_round_trip_and_run_probe(checkpoint_and_corpus, tmp_path):
    _, _, folder, corpus = checkpoint_and_corpus
    reps = probe_task.representations_for(folder, corpus, cache_dir=tmp_path / "cache")
    path = probe_task.write_bundle(reps, tmp_path / "probe_test.npz", max_bytes=16 * (40 + 6 + 6) * 2)  # PCA of "input"
    back = probe_task.load_bundle(path)
    assert back.meta["pca"]["input"]["from"] == 40 and back.modules["input"].shape[1] == 15
    assert "cnn" not in back.meta["pca"]
    np.testing.assert_allclose(back.modules["mlp"], reps.modules["mlp"], rtol=1e-2, atol=1e-3)  # float16
    assert list(back.speaker) == list(reps.speaker) and back.meta["checkpoint_hash"] == checkpoint_hash(folder)
    with np.load(path, allow_pickle=False) as data:
        assert data["module_mlp"].dtype == np.float16
    out = probe_task.run_probe(bundle=path)
    assert out["modules"] == ["input", "cnn", "rnn", "mlp"]
    assert set(out["inertia_ratio"]["rnn"]) == {"emotion", "speaker", "gender"}
    assert set(out["svm_ua"]) == set(out["modules"])
    direct = probe_task.run_probe(folder, corpus, cache_dir=tmp_path / "cache")
    assert direct["inertia_ratio"]["mlp"] == pytest.approx(out["inertia_ratio"]["mlp"], rel=1e-2)
    (tmp_path / "junk.npz").write_bytes(b"not a bundle")
    with pytest.raises(CrnnError):
        probe_task.load_bundle(tmp_path / "junk.npz")


@pytest.mark.parametrize("damage", ["nan", "ragged", "deep"])
def test_a_damaged_bundle_is_refused_in_one_line(tmp_path, damage):
    rng = np.random.default_rng(0)
    n = 8
    reps = Representations({"rnn": rng.normal(size=(n, 3)).astype(np.float32)}, np.array([f"{i}.wav" for i in range(n)]),
                           np.array(["anger", "calm"] * 4), np.array(["01", "02"] * 4), np.array(["f", "m"] * 4), {})
    arrays = reps.to_arrays(np.float16, probe_task.BUNDLE_FORMAT)
    np.savez(tmp_path / "good.npz", **arrays)
    assert probe_task.load_bundle(tmp_path / "good.npz").modules["rnn"].shape == (n, 3)
    if damage == "nan":  # reached LinearSVC as a ValueError traceback
        arrays["module_rnn"] = arrays["module_rnn"].copy()
        arrays["module_rnn"][0, 0] = np.nan
    elif damage == "ragged":
        arrays["emotion"] = arrays["emotion"][:-1]
    else:  # json.loads raised RecursionError
        arrays["meta"] = np.array("[" * 100_000 + "]" * 100_000)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(CrnnError, match="not a crnn-lens probe bundle"):
        probe_task.load_bundle(tmp_path / "bad.npz")


def test_probe_control_is_the_same_architecture_with_random_weights(checkpoint_and_corpus, tmp_path):
    _, card, _, corpus = checkpoint_and_corpus
    torch.manual_seed(1)  # weights other than the control's seed-0 draw
    folder = save_checkpoint(TinyModel(2, hidden=6), card, tmp_path / "other")
    out = probe_task.run_probe(folder, corpus, cache_dir=tmp_path / "cache", control=True)
    ctrl = out["control"]
    assert ctrl["weights"].startswith("random")
    # the input stage is the features, which no weight touches: the control's is the trained model's
    assert ctrl["inertia_ratio"]["input"] == pytest.approx(out["inertia_ratio"]["input"])
    assert ctrl["inertia_ratio"]["mlp"]["emotion"] != pytest.approx(out["inertia_ratio"]["mlp"]["emotion"])
    cell = ctrl["intervals"]["inertia_ratio"]["mlp"]["emotion"]
    assert cell["low"] <= cell["value"] <= cell["high"]
    assert set(ctrl["intervals"]["svm"]["mlp"]) == {"emotion", "gender"}
    with pytest.raises(CrnnError, match="random-weights control"):
        probe_task.run_probe(bundle=probe_task.write_bundle(
            probe_task.representations_for(folder, corpus, cache_dir=tmp_path / "cache"), tmp_path / "b.npz"),
            control=True)


def test_probe_grid_figure(tmp_path):
    from crnn.plots import save_figure

    reps = synthetic_reps()
    fig = probe_task.probe_figure(reps)
    titles = [a.text for a in fig.layout.annotations if a.bgcolor is None]  # panel titles, not class centres
    assert len(titles) == 6 and all("spread " in t for t in titles)
    assert titles[0].endswith(f"{inertia_ratio(StandardScaler().fit_transform(reps.modules['input']), reps.emotion):.3f}")
    hover = [t for t in fig.data if t.mode == "markers"][0]
    assert hover.text[0].startswith("Actor_")
    assert save_figure(fig, tmp_path / "grid.html").stat().st_size > 1000


def test_projections_leave_out_unknown_and_single_class_labels():
    reps = synthetic_reps()
    reps.gender = np.where(np.arange(len(reps)) < 5, probe.UNKNOWN, reps.gender)
    reps.speaker = np.full(len(reps), "01")  # one speaker: nothing to project
    points = probe.probe_projections(reps)
    assert list(points) == ["input", "mlp"] and points["mlp"]["speaker"] is None
    assert points["mlp"]["emotion"].shape == (len(reps), 2)  # three emotions → two LDA axes
    gender = points["mlp"]["gender"]
    assert gender.shape == (len(reps), 1) and np.isnan(gender[:5]).all() and np.isfinite(gender[5:]).all()
    with pytest.raises(ValueError):
        probe.probe_projections(reps, method="pca")


def test_probe_figure_shows_the_ratios_it_is_given():
    reps = synthetic_reps()
    scores = probe.probe_scores(reps, svm=False)
    scores["inertia_ratio"]["mlp"]["gender"] = 0.1234  # the figure draws these numbers, it does not recompute them
    titles = [a.text for a in probe_task.probe_figure(reps, scores).layout.annotations if a.bgcolor is None]
    assert titles[5].startswith("gender") and titles[5].endswith("spread 0.123")  # bottom row, last stage (MLP)


def test_probe_with_bundle_loads_the_checkpoint_and_reads_the_corpus_once(checkpoint_and_corpus, tmp_path, monkeypatch):
    _, _, folder, corpus = checkpoint_and_corpus
    calls = []
    for name in ("load_checkpoint", "read_corpus"):
        original = getattr(probe_task, name)
        monkeypatch.setattr(probe_task, name, lambda *a, _f=original, _n=name, **k: calls.append(_n) or _f(*a, **k))
    import crnn.analysis.probe as analysis_probe

    umapped = []  # UMAP proper compiles with numba for ~20 s: a stand-in that records what it was given
    monkeypatch.setattr(analysis_probe, "umap_projection",
                        lambda X, seed=0: umapped.append(X.shape) or X[:, :2] * 1.0 + seed)  # fmt: skip
    out = probe_task.run_probe(folder, corpus, cache_dir=tmp_path / "cache", save_bundle=True)
    assert sorted(calls) == ["load_checkpoint", "read_corpus"]
    assert out["bundle"] == str(folder / "probe_ravdess.npz")
    reps = probe_task.load_bundle(out["bundle"])
    assert reps.meta["checkpoint_hash"] == checkpoint_hash(folder)
    # The bundle ships every module's UMAP of the full representations; the grid then uses it, computing none.
    stored = probe_task.bundle_umap(out["bundle"])
    assert set(stored) == set(reps.modules) and len(umapped) == len(reps.modules)
    assert all(v.shape == (len(reps), 2) for v in stored.values())
    points = analysis_probe.probe_projections(reps, method="umap", stored=stored)
    assert len(umapped) == len(reps.modules)
    np.testing.assert_allclose(points["cnn"]["emotion"], stored["cnn"])


def test_probe_hears_the_trimmed_audio(checkpoint_and_corpus, tmp_path):
    model, _, _, corpus_root = checkpoint_and_corpus
    from crnn.core.corpora import read_corpus

    path = next(corpus_root.glob("Actor_01/*.wav"))
    wave, sr = sf.read(path, dtype="float32")
    sf.write(path, np.concatenate([np.zeros(sr), wave, np.zeros(sr)]), sr)  # a second of silence at each end
    corpus = read_corpus(corpus_root)
    reps = probe_task.module_representations(model, corpus, use_cache=False)
    assert reps.meta["seconds_of_audio"] < corpus.total_seconds - 1.5  # trimmed to about 32 ms of silence
