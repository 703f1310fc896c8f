"""The notebook API: ``import crnn`` stays light, the README example runs exactly as written, ``crnn.probe`` works."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_model import TinyModel

import crnn
from crnn.core.errors import CrnnError

ROOT = Path(__file__).resolve().parents[1]
API = ("load_model", "load_audio", "read_corpus", "predict", "cells", "explain", "probe")


def python(code: str, cache: Path) -> str:
    """Run ``code`` in a fresh interpreter in the project folder (its own cache folder); return its stdout."""
    env = {**os.environ, "CRNN_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- api-example:start -->\s*```python\n(.*?)```\s*<!-- api-example:end -->", text, re.S)
    assert block, "README has no python block between the api-example markers"
    return block.group(1)


def test_import_crnn_is_light_and_lists_the_api(tmp_path):
    out = python("import crnn, sys; print(sorted(m for m in ('torch', 'sklearn', 'plotly') if m in sys.modules))", tmp_path)
    assert out.strip() == "[]"
    assert set(API) <= set(crnn.__all__) and set(API) <= set(dir(crnn))
    with pytest.raises(AttributeError):
        crnn.no_such_thing  # noqa: B018


def test_readme_example_runs_as_written(tmp_path):
    code = readme_example()
    assert len(code.strip().splitlines()) <= 15
    out = python(code, tmp_path)
    assert out.splitlines()[0].split()[0] in crnn.load_model("fst_cldnn_logmel").card["labels"]
    assert "peak at" in out


def test_probe_over_a_corpus_folder(tmp_path):
    code = ("import json, crnn\n"
            "out = crnn.probe(crnn.load_model('fst_cldnn_logmel'), 'checkpoints/examples')\n"
            "print(json.dumps({k: out[k] for k in ('modules', 'n_utterances', 'inertia_ratio')}))")
    out = json.loads(python(code, tmp_path))
    assert out["modules"] == ["input", "cnn", "rnn", "mlp"] and out["n_utterances"] == 6
    assert all(out["inertia_ratio"][m]["gender"] > 0 for m in out["modules"])
    assert list((tmp_path / "probe").glob("*.npz"))  # the representations were cached


def test_functions_need_a_loaded_model_with_its_card():
    torch.manual_seed(0)
    wave = 0.1 * np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    with pytest.raises(CrnnError, match="crnn.load_model"):
        crnn.predict(TinyModel(4), wave)
    model = TinyModel(2)
    model.card = {"labels": ["anger", "happiness"]}
    assert crnn.predict(model, wave)["label"] in model.card["labels"]
    assert crnn.explain(model, wave, target="happy", method="saliency").target_label == "happiness"
    assert len(crnn.cells(model, wave).table) > 0
