"""The causal lab on cases with known answers: cell ablation, prosody what-if, CKA, occlusion; and its commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import Tensor, nn

from crnn.analysis.ablate import ablated_logits, clamped_lstm, random_cells, rank_cells
from crnn.analysis.cka import cka_matrix, linear_cka
from crnn.analysis.explain import explain
from crnn.analysis.representations import Representations
from crnn.analysis.whatif import manipulate
from crnn.cli import main
from crnn.core.checkpoint import save_checkpoint
from crnn.core.features import FrontEnd
from crnn.core.models import build_model
from crnn.core.models.base import SERModel
from crnn.core.prosody import f0_hz
from crnn.tasks.compare import compare_representations

SR = 16000
EXAMPLE = "checkpoints/examples/03-01-05-02-01-01-01.flac"


def tone(seconds: float = 1.0, f0: float = 150.0, seed: int = 0) -> np.ndarray:
    """A harmonic tone (7 harmonics, 1/k amplitudes) with a slow tremolo and a little noise, float32 at 16 kHz."""
    t = np.arange(int(seconds * SR)) / SR
    wave = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8)) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t))
    return (0.15 * wave + 0.001 * np.random.default_rng(seed).standard_normal(len(t))).astype(np.float32)


class OneCellModel(SERModel):
    """log-Mel → LSTM(4) → mean over time → two logits; only unit 2 moves class 1, and no other unit feeds unit 2."""

    feature_kind = "logmel"

    def __init__(self, n_classes: int = 2) -> None:
        super().__init__()
        self._save_config(locals())
        torch.manual_seed(0)
        self.frontend = FrontEnd("logmel")
        self.rnn = nn.LSTM(40, 4, batch_first=True)
        self.head = nn.Linear(4, n_classes)
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.bias.zero_()
            self.rnn.weight_hh_l0[2::4] = 0.0  # unit 2's gates (rows 2, 6, 10, 14) see no other unit

    def module_outputs(self, wave: Tensor) -> dict[str, Tensor]:
        x = self.frontend(wave)
        r, _ = self.rnn(x)
        m = r.mean(dim=1)
        return {"input": x, "cnn": x, "rnn": r, "mlp": m, "logits": self.head(m)}


class OneBandModel(SERModel):
    """Features (B, T, 40) → logit 0 = mean over time of band 7; logit 1 = 0."""

    feature_kind = "logmel"

    def __init__(self, n_classes: int = 2) -> None:
        super().__init__()
        self._save_config(locals())
        self.frontend = FrontEnd("logmel")
        self.scale = nn.Parameter(torch.tensor(3.0))

    def module_outputs(self, wave: Tensor) -> dict[str, Tensor]:
        x = self.frontend(wave)
        score = self.scale * x[:, :, 7].mean(dim=1)
        logits = torch.stack([score, torch.zeros_like(score)], dim=-1)
        return {"input": x, "cnn": x, "rnn": x, "mlp": logits, "logits": logits}


def test_clamped_lstm_without_clamps_is_nn_lstm():
    torch.manual_seed(1)
    lstm = nn.LSTM(5, 6, num_layers=2, batch_first=True, bidirectional=True).eval()
    x = torch.randn(3, 9, 5)
    nothing = ("c", torch.zeros(3, 6, dtype=torch.bool), torch.zeros(3, 6))  # the unrolled path, no unit clamped
    for clamps in ({}, {(layer, d): nothing for layer in (0, 1) for d in (0, 1)}):
        (out, (h, c)), (ref, (h_ref, c_ref)) = clamped_lstm(lstm, x, clamps), lstm(x)
        assert torch.allclose(out, ref, atol=1e-5) and torch.allclose(h, h_ref, atol=1e-5)
        assert torch.allclose(c, c_ref, atol=1e-5)


def test_ablating_the_one_cell_changes_the_prediction_a_random_one_does_not():
    model = OneCellModel().eval()
    waves = [tone(0.6, 140.0, seed=0), tone(0.6, 220.0, seed=1)]
    with torch.no_grad():
        h2 = model.module_outputs(torch.from_numpy(waves[0])[None])["mlp"][0, 2]
        model.head.weight[1, 2] = 10.0 * torch.sign(h2)  # class 1 wins through unit 2 alone
    cell, other = ("rnn.layer0", 0, 2), ("rnn.layer0", 0, 0)
    logits = ablated_logits(model, waves, [[], [cell], [other]], values={}, state="c")  # clamped to zero
    assert logits.shape == (2, 3, 2)
    assert logits[0, 0].argmax() == 1 and logits[0, 1].argmax() == 0  # the one cell gone: the prediction flips
    assert np.allclose(logits[:, 2], logits[:, 0], atol=1e-5)  # a cell the head ignores changes nothing
    assert np.allclose(logits[:, 1, 1], 0.0, atol=1e-6)


def test_rank_cells_and_random_draws_match_the_top_cells_layers():
    model = OneCellModel().eval()
    ranking = rank_cells(model, [tone(0.6, 140.0), tone(0.6, 200.0, seed=2)], "loudness", "c")
    assert list(ranking.table.columns[:4]) == ["layer", "direction", "unit", "mean_r"] and len(ranking.table) == 4
    top = ranking.top(2)
    draws = random_cells(ranking, top, 3, seed=0)
    assert all(len(d) == 2 and not set(d) & set(top) for d in draws)


def test_a_tone_shifted_three_semitones_measures_three():
    wave = tone(1.0, 150.0)
    shifted, clipped = manipulate(wave, pitch_st=3.0)
    before, after = f0_hz(wave), f0_hz(shifted)
    voiced = np.isfinite(before) & np.isfinite(after)
    assert voiced.sum() > 50 and not clipped
    assert abs(np.median(12 * np.log2(after[voiced] / before[voiced])) - 3.0) < 0.5
    slower, _ = manipulate(wave, tempo=0.8)
    assert abs(len(slower) / len(wave) - 1.25) < 0.02
    louder, _ = manipulate(wave, loudness_db=6.0)
    assert np.allclose(louder, wave * 10 ** (6 / 20), atol=1e-6)


def test_cka_is_invariant_to_rotation_and_scale_and_one_on_itself():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((200, 12)), rng.standard_normal((200, 30))
    q, _ = np.linalg.qr(rng.standard_normal((12, 12)))
    assert linear_cka(x, 4.0 * x @ q) == pytest.approx(1.0, abs=1e-9)
    assert linear_cka(x @ q, 0.1 * y) == pytest.approx(linear_cka(x, y), abs=1e-9)
    assert linear_cka(x, y) < 0.5
    wide = rng.standard_normal((20, 50))  # the Gram-matrix branch
    assert linear_cka(wide, wide @ np.linalg.qr(rng.standard_normal((50, 50)))[0]) == pytest.approx(1.0, abs=1e-9)
    modules = {"cnn": x, "rnn": y, "mlp": x[:, :3] ** 2}
    reps = Representations(modules, np.array([f"u{i}" for i in range(200)]), *(np.array(["a"] * 200),) * 3)
    result = compare_representations(reps, reps)
    assert np.allclose(np.diag(result["cka"]), 1.0) and np.allclose(result["cka"], np.array(result["cka"]).T)
    assert cka_matrix(modules, {"x": x}).shape == (3, 1)


def test_occluding_the_only_informative_band_dominates_the_map():
    model = OneBandModel().eval()
    expl = explain(model, tone(1.0, 180.0), method="occlusion", target=0)
    per_band = np.abs(expl.attributions).sum(axis=0)  # (40,)
    assert expl.attributions.shape[1] == 40 and per_band[5:10].sum() > 0.99 * per_band.sum()


# --- the commands ----------------------------------------------------------------------------


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def bad_files(tmp_path):
    (tmp_path / "notes.wav").write_text("not audio")
    return {"missing": str(tmp_path / "missing.wav"), "not audio": str(tmp_path / "notes.wav")}


@pytest.mark.parametrize("argv", [
    ("whatif", "{missing}"), ("whatif", "{not audio}"), ("whatif", "--model", "no_such_model", EXAMPLE),
    ("whatif", "--pitch", "40", EXAMPLE), ("explain", "--method", "occlusion", "{missing}"),
    ("explain", "--method", "occlusion", "{not audio}"), ("compare", "--model", "no_such_model", "--model", "raw_crnn"),
    ("compare", "--model", "raw_crnn"), ("ablate", "--model", "no_such_model", "--corpus", "."),
    ("ablate", "--corpus", "{missing}"), ("ablate", "--corpus", "{not audio}"),
    ("ablate", "--corpus", ".", "--draws", "-2"), ("ablate", "--corpus", ".", "--clips", "0"),
    ("noiselab", EXAMPLE, "--snr=nan"), ("noiselab", EXAMPLE, "--snr=inf"), ("noiselab", EXAMPLE, "--snr=-1000"),
])
def test_new_commands_refuse_bad_input_in_one_line(capsys, bad_files, argv):
    code, out, err = run(capsys, *(a.format(**bad_files) if a.startswith("{") else a for a in argv), "--json")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and err.startswith(f"crnn {argv[0]}:")


def test_ablate_command_on_a_label_folder_corpus(capsys, tmp_path):
    labels = ["anger", "happiness", "neutral", "sadness"]
    model = build_model("ldnn_mfcc", len(labels))
    card = {"model": "ldnn_mfcc", "model_kwargs": model.config, "labels": labels, "features": {"kind": "mfcc"}}
    folder = save_checkpoint(model, card, tmp_path / "ckpt")
    for k, label in enumerate(labels):
        (tmp_path / "corpus" / label).mkdir(parents=True)
        sf.write(tmp_path / "corpus" / label / f"{label}.wav", tone(0.6, 120.0 + 40 * k, seed=k), SR)
    code, out, _ = run(capsys, "ablate", "--model", str(folder), "--corpus", str(tmp_path / "corpus"), "--top", "3",
                       "--draws", "2", "--to", "zero", "--figure", str(tmp_path / "ablate.html"), "--json")
    result = json.loads(out)
    assert code == 0 and result["k"] == 3 and result["clips"] == 4 and len(result["random"]["delta_ua"]) == 2
    assert set(result["top"]["delta_recall"]) == set(labels) and (tmp_path / "ablate.html").is_file()


def test_whatif_and_compare_commands_on_shipped_checkpoints(capsys, tmp_path):
    code, out, _ = run(capsys, "whatif", EXAMPLE, "--pitch", "2", "--out", str(tmp_path / "up.wav"), "--json",
                       "--figure", str(tmp_path / "whatif.html"))
    result = json.loads(out)
    assert code == 0 and set(result["before"]["probabilities"]) == set(result["after"]["probabilities"])
    assert "original" in (tmp_path / "whatif.html").read_text() and result["figure"].endswith("whatif.html")
    assert sf.info(tmp_path / "up.wav").samplerate == SR and {c["feature"] for c in result["cells"]} == {"f0_hz", "loudness"}
    code, out, _ = run(capsys, "compare", "--model", "fst_cldnn_logmel", "--model", "fst_cldnn_logmel",
                       "--figure", str(tmp_path / "cka.html"), "--json")
    result = json.loads(out)
    assert code == 0 and np.allclose(np.diag(result["cka"]), 1.0, atol=1e-3) and (tmp_path / "cka.html").is_file()


def test_ablation_on_ravdess(capsys, ravdess_root):
    code, out, _ = run(capsys, "ablate", "--corpus", str(ravdess_root), "--clips", "16", "--top", "4", "--draws", "2",
                       "--json")
    result = json.loads(out)
    assert code == 0 and result["clips"] == 16 and result["feature"] == "loudness"
    assert all(abs(c["mean_r"]) > 0.2 for c in result["cells"]) and 0 <= result["baseline"]["ua"] <= 1


def test_whatif_will_not_write_the_changed_clip_over_the_clip_itself(capsys, tmp_path):
    clip = tmp_path / "mine.wav"
    sf.write(clip, tone(1.0, 180.0), SR)
    before = clip.read_bytes()
    code, out, err = run(capsys, "whatif", str(clip), "--pitch", "2", "--out", str(tmp_path / "." / "mine.wav"))
    assert code == 2 and "is the clip itself" in err and clip.read_bytes() == before  # the recording was replaced
