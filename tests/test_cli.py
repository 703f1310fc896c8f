"""The command line as a user meets it: JSON outputs, and one line plus exit code 2 for bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from crnn.core.checkpoint import CHECKPOINT_DIR, list_checkpoints, save_checkpoint
from crnn.cli import main
from crnn.core.errors import CrnnError
from crnn.core.models import build_model

LABELS = ["anger", "happiness", "neutral", "sadness"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def checkpoint(tmp_path):
    """An untrained but well-formed checkpoint folder of a real registered model."""
    model = build_model("ldnn_mfcc", len(LABELS))
    card = {"model": "ldnn_mfcc", "model_kwargs": model.config, "labels": LABELS, "features": {"kind": "mfcc"}}
    return save_checkpoint(model, card, tmp_path / "ckpt")


@pytest.fixture
def clip(tmp_path):
    t = np.arange(32000) / 16000
    path = tmp_path / "tone.wav"
    sf.write(path, 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)), 16000)
    return path


def test_models_json_lists_the_papers_models(capsys):
    code, out, _ = run(capsys, "models", "--json")
    rows = json.loads(out)
    names = {r["name"] for r in rows}
    assert code == 0 and len(rows) >= 14
    assert {"ldnn_mfcc", "ldnn_logmel", "t_cldnn_mfcc", "fst_cldnn_mfcc", "t_cldnn_logmel", "s_cldnn_logmel",
            "st_cldnn_logmel", "fst_cldnn_logmel"} <= names
    assert all(r["parameters"] > 0 and r["input"] in ("waveform", "logmel", "mfcc") for r in rows)


def test_a_reader_that_leaves_early_gets_no_traceback():
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "crnn.cli", "models"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # as `crnn models | head -0`: the table meets a pipe nobody reads
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and b"Traceback" not in err, err.decode()


def test_corpus_json_on_ravdess(capsys, ravdess_root):
    code, out, _ = run(capsys, "corpus", str(ravdess_root), "--json")
    info = json.loads(out)
    assert code == 0
    assert (info["utterances"], info["speakers"], info["genders"]["female"]) == (1440, 24, 12)


def test_corpus_levels_are_each_clips_peak_and_rms_in_dbfs(capsys, tmp_path):
    t = np.arange(16000) / 16000
    for label, amplitude in (("angry", 0.5), ("sad", 0.05), ("calm", 0.005)):
        (tmp_path / "corpus" / label).mkdir(parents=True)
        sf.write(tmp_path / "corpus" / label / "a.wav", amplitude * np.sin(2 * np.pi * 220 * t), 16000, subtype="FLOAT")
    code, out, _ = run(capsys, "corpus", str(tmp_path / "corpus"), "--levels", "--json")
    levels = json.loads(out)["levels"]
    assert code == 0 and levels["clips"] == 3
    # Known answer, the middle clip: a sine of amplitude 0.05 peaks at 20 log10 0.05 = −26.0 dBFS, RMS 3.0 dB lower.
    assert levels["peak_dbfs"]["median"] == pytest.approx(-26.0, abs=0.1)
    assert levels["rms_dbfs"]["median"] == pytest.approx(-29.0, abs=0.1)
    assert levels["peak_dbfs"]["p5"] < -26.0 - 15 and levels["peak_dbfs"]["p95"] > -26.0 + 15
    code, out, _ = run(capsys, "corpus", str(tmp_path / "corpus"), "--json")
    assert code == 0 and "levels" not in json.loads(out)  # clips are decoded only on request


@pytest.mark.parametrize("make", ["empty", "unknown"])
def test_corpus_refuses_empty_and_unknown_folders(capsys, tmp_path, make):
    folder = tmp_path / make
    folder.mkdir()
    if make == "unknown":
        (folder / "notes.txt").write_text("no audio here")
    code, out, err = run(capsys, "corpus", str(folder))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_predict_reports_bad_files_and_still_predicts_the_good_one(capsys, tmp_path, checkpoint, clip):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00garbage")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000), 16000)
    code, out, err = run(capsys, "predict", "--model", str(checkpoint), "--json", str(corrupt), str(clip), str(silent))
    results = json.loads(out)
    assert code == 2
    assert [r["file"].split("/")[-1] for r in results] == ["tone.wav"]
    assert set(results[0]["probabilities"]) == set(LABELS)
    assert len(err.strip().splitlines()) == 2 and "corrupt.wav" in err and "silent.wav" in err


def test_predict_says_no_speech_found_for_white_noise_and_goes_on(capsys, tmp_path, checkpoint, clip):
    """Noise has no voiced frame: one line "no speech found", exit 2, and the next file is still predicted."""
    noise = tmp_path / "noise.wav"
    sf.write(noise, 0.1 * np.random.default_rng(0).standard_normal(32000), 16000)
    code, out, err = run(capsys, "predict", "--model", str(checkpoint), "--json", str(noise), str(clip))
    assert code == 2
    assert [r["file"].split("/")[-1] for r in json.loads(out)] == ["tone.wav"]
    assert err.strip().splitlines() == [f"{noise.name}: no speech found (no voiced frame), so no emotion is given"]


def test_predict_imports_neither_librosa_nor_scikit_learn(checkpoint, clip):
    """A cold ``crnn predict`` loads torch, the model and the audio loader only: librosa (numba), scikit-learn,
    scipy and pandas cost seconds of start-up and are not needed to predict; nor are torch._dynamo and sympy,
    which a buffer built on the meta device (the loader's card check) pulled in through torch's decompositions."""
    import subprocess
    import sys

    script = ("import sys; from crnn.cli import main; code = main(sys.argv[1:]); "
              "names = set(sys.modules) | {m.split('.')[0] for m in sys.modules}; "
              "print(sorted(names & {'librosa', 'numba', 'sklearn', 'scipy', 'pandas', 'plotly', 'sympy', "
              "'torch._dynamo'}), code)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", script, "predict", "--model", str(checkpoint), str(clip)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.stdout.strip().splitlines()[-1] == "[] 0", done.stdout + done.stderr


@pytest.mark.parametrize("command", ["explain", "cells", "noiselab"])
def test_a_figure_path_that_is_not_html_or_png_is_refused_before_any_work(capsys, tmp_path, checkpoint, clip, command):
    before = sorted(tmp_path.iterdir())
    for figure in (tmp_path / "figure.txt", tmp_path):
        assert main([command, "--model", str(checkpoint), str(clip), "--figure", str(figure)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"crnn {command}: figure file must end in .html or .png") and err.count("\n") == 1
    assert sorted(tmp_path.iterdir()) == before


def test_tampered_checkpoint_is_refused_in_one_line(capsys, checkpoint, clip):
    weights = checkpoint / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    code, out, err = run(capsys, "predict", "--model", str(checkpoint), str(clip))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_unknown_model_name_is_refused(capsys, clip):
    code, _, err = run(capsys, "predict", "--model", "no_such_model", str(clip))
    assert code == 2 and "no_such_model" in err


SHIPPED = [c["name"] for c in list_checkpoints(CHECKPOINT_DIR) if "card" in c]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoint_reproduces_its_card(capsys, ravdess_root, name):
    """`crnn evaluate` of a shipped checkpoint gives the clean test UA written in its card."""
    card = json.loads((CHECKPOINT_DIR / name / "card.json").read_text())
    code, out, _ = run(capsys, "evaluate", "--model", name, "--corpus", str(ravdess_root), "--json")
    result = json.loads(out)
    assert code == 0
    assert result["n"] == card["metrics"]["test"]["clean"]["n"]
    assert result["ua"] == pytest.approx(card["metrics"]["test"]["clean"]["ua"], abs=1e-6)


def test_shipped_default_model_reproduces_its_noisy_figure(capsys, ravdess_root):
    from crnn.core.checkpoint import DEFAULT_MODEL

    if DEFAULT_MODEL not in SHIPPED:
        pytest.skip("no shipped default checkpoint")
    card = json.loads((CHECKPOINT_DIR / DEFAULT_MODEL / "card.json").read_text())
    code, out, _ = run(capsys, "evaluate", "--corpus", str(ravdess_root), "--noisy", "--json")
    assert code == 0
    assert json.loads(out)["ua"] == pytest.approx(card["metrics"]["test"]["noisy"]["ua"], abs=1e-6)


def test_train_refuses_a_folder_without_a_corpus(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "train", "--model", "ldnn_mfcc", "--corpus", str(tmp_path / "empty"),
                       "--out", str(tmp_path / "out"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_train_and_baseline_refuse_a_corpus_of_one_emotion(capsys, tmp_path):
    """It trained, and scored 100 % UA: a one-class classifier has nothing to learn."""
    (tmp_path / "angry").mkdir()
    for i in range(4):
        sf.write(tmp_path / "angry" / f"{i}.wav", 0.3 * np.sin(2 * np.pi * 150 * np.arange(16000) / 16000), 16000)
    code, _, err = run(capsys, "train", "--model", "ldnn_mfcc", "--corpus", str(tmp_path), "--out", str(tmp_path / "out"))
    assert code == 2 and "utter only anger; an emotion classifier needs at least two emotions" in err
    assert not (tmp_path / "out").exists()
    code, _, err = run(capsys, "baseline", "--features", "egemaps", "--corpus", str(tmp_path), "--out", str(tmp_path / "b.json"))
    assert code == 2 and "needs at least two emotions" in err and not (tmp_path / "b.json").exists()  # an SVM traceback


def test_a_negative_seed_is_refused_before_any_work(capsys, tmp_path):
    for flag in ("--seed", "--train-seed"):
        with pytest.raises(SystemExit) as exit_:
            main(["train", "--model", "ldnn_mfcc", "--corpus", str(tmp_path), flag, "-1", "--out", str(tmp_path / "o")])
        assert exit_.value.code == 2 and "seeds are 0 or more" in capsys.readouterr().err
    from crnn.analysis.train import train

    with pytest.raises(CrnnError, match="train_seed must be a whole number of 0 or more"):
        train("ldnn_mfcc", tmp_path, out_dir=tmp_path / "o", train_seed=-1)
    assert not (tmp_path / "o").exists()


def test_training_into_a_file_is_refused_before_any_epoch(capsys, tmp_path):
    (tmp_path / "taken").write_text("not a folder")
    for out in (tmp_path / "taken", tmp_path / "taken" / "inside"):
        assert main(["train", "--model", "ldnn_mfcc", "--corpus", str(tmp_path), "--out", str(out)]) == 2
        captured = capsys.readouterr()
        assert "taken is a file, not a folder a checkpoint can be written in" in captured.err
        assert "epoch" not in captured.out  # it used to train a whole epoch first, then fail to save it


def test_a_control_character_in_a_file_name_cannot_break_the_one_line_message(capsys, tmp_path):
    for name, shown in (("new\nline.wav", r"new\nline.wav"), ("\x1b[31mred.wav", r"\x1b[31mred.wav")):
        (tmp_path / name).write_bytes(b"RIFF")  # too short to be a WAV file
        assert main(["predict", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and shown in err, err  # one line, the name's control character escaped


def test_a_training_time_budget_not_above_zero_is_refused(capsys, tmp_path):
    for minutes in ("-1", "nan", "0"):
        assert main(["train", "--model", "ldnn_mfcc", "--corpus", str(tmp_path), "--max-minutes", minutes]) == 2
        assert "--max-minutes must be a number of minutes above 0" in capsys.readouterr().err


def test_report_corpus_goes_with_seeds_only(capsys, tmp_path):
    assert main(["report", "--corpus", str(tmp_path)]) == 2
    assert "--corpus goes with --seeds" in capsys.readouterr().err


def test_copy_of_checkpoint_folder_loads(capsys, tmp_path, checkpoint, clip):
    """A checkpoint folder is self-contained: moved elsewhere, it still predicts."""
    moved = shutil.copytree(checkpoint, tmp_path / "elsewhere")
    code, out, _ = run(capsys, "predict", "--model", str(moved), "--json", str(clip))
    assert code == 0 and json.loads(out)[0]["label"] in LABELS


@pytest.fixture
def label_folders(tmp_path, ravdess_root):
    """RAVDESS clips of four emotions laid out as a folder per label, another layout than RAVDESS's own."""
    codes = {"05": "Angry", "03": "Happy", "01": "Neutral", "04": "Sad"}
    for code, label in codes.items():
        (tmp_path / "folders" / label).mkdir(parents=True)
        for actor in ("01", "02", "03", "04", "05", "06"):
            name = f"03-01-{code}-01-01-01-{actor}.flac"
            (tmp_path / "folders" / label / name).symlink_to(ravdess_root / f"Actor_{actor}" / name)
    return tmp_path / "folders"


def test_probe_cells_explain_on_another_layout(capsys, tmp_path, checkpoint, label_folders):
    code, out, err = run(capsys, "probe", "--model", str(checkpoint), "--corpus", str(label_folders), "--json")
    assert code == 0, err
    probe = json.loads(out)
    assert {"input", "rnn", "mlp"} <= set(probe["modules"]) and "emotion" in probe["inertia_ratio"]["rnn"]
    clip = next(label_folders.glob("Happy/*.flac"))
    code, out, err = run(capsys, "cells", "--model", str(checkpoint), str(clip), "--json", "--top", "3",
                         "--state", "c", "--control")
    assert code == 0, err
    cells = json.loads(out)
    assert all(row["state"] == "c" for rows in cells["top"].values() for row in rows)
    assert set(cells["control_top"]) == set(cells["top"])
    code, out, err = run(capsys, "explain", "--model", str(checkpoint), str(clip), "--target", "happy", "--json")
    assert code == 0, err
    assert json.loads(out)["target_label"] == "happiness"


def test_noiselab_json_and_a_bad_target_in_one_line(capsys, checkpoint, clip):
    code, out, err = run(capsys, "noiselab", "--model", str(checkpoint), str(clip), "--snr", "0", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["snr_db_measured"] == pytest.approx(0.0, abs=0.01) and "noisy_wave" not in result
    assert set(result["cosine_distance"]) >= {"rnn", "mlp"}
    code, out, err = run(capsys, "explain", "--model", str(checkpoint), str(clip), "--target", "boredom")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "boredom" in err


def test_train_refuses_a_misspelt_model_setting_before_reading_the_corpus(capsys, tmp_path):
    assert main(["train", "--model", "st_cldnn_logmel", "--corpus", str(tmp_path), "--model-set", "conv_nrm=1",
                 "--out", str(tmp_path / "run")]) == 2
    assert "no setting 'conv_nrm'" in capsys.readouterr().err and not (tmp_path / "run").exists()
