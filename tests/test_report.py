"""crnn.tasks.report.results_rows: the one reading of cards and baseline files behind the README table and the zoo page."""

import pytest

from crnn.core.checkpoint import atomic_write_json
from crnn.core.models import REGISTRY, build_model, count_parameters
from crnn.tasks.report import build_report, results_rows

LABELS = ["anger", "calm", "sadness"]


@pytest.fixture
def root(tmp_path):
    for name, ua in (("ldnn_mfcc", 0.4), ("fst_cldnn_logmel", 0.5)):
        atomic_write_json(tmp_path / name / "card.json", {
            "format": "crnn-lens/1", "model": name, "labels": LABELS, "corpus": {"name": "ravdess"},
            "split": {"test": ["01"]}, "training": {"epochs": 3, "seconds": 60.0},
            "metrics": {"test": {"clean": {"ua": ua}, "noisy": {"ua": ua / 2}}},
        })  # fmt: skip
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "card.json").write_text("{not json")
    svm = lambda ua: {"C": 1.0, "test": {"clean": {"ua": ua}, "noisy": {"ua": ua / 2}}}  # noqa: E731
    atomic_write_json(tmp_path / "baselines_ravdess.json", {"egemaps": {
        "feature_set": "eGeMAPSv02", "n_features": 88, "best": "rbf", "corpus": {"name": "ravdess"},
        "split": {"test": ["01"]}, "svm": {"linear": svm(0.3), "rbf": svm(0.35)}}})  # fmt: skip
    return tmp_path


def test_rows_of_models_then_baselines(root):
    rows = results_rows(root)
    models = [r for r in rows if r["kind"] == "model"]
    assert [r["name"] for r in models] == [n for n in REGISTRY if n in ("ldnn_mfcc", "fst_cldnn_logmel")]
    fst = next(r for r in models if r["model"] == "fst_cldnn_logmel")
    assert (fst["ua_clean"], fst["ua_noisy"], fst["family"], fst["input"]) == (0.5, 0.25, "CLDNN", "logmel")
    assert fst["parameters"] == count_parameters(build_model("fst_cldnn_logmel", len(LABELS)))
    assert fst["path"].endswith("fst_cldnn_logmel") and fst["test_speakers"] == ["01"]
    baselines = [r for r in rows if r["kind"] == "baseline"]
    assert [(r["kernel"], r["best"], r["ua_clean"]) for r in baselines] == [("linear", False, 0.3), ("rbf", True, 0.35)]
    assert all(r["kind"] == "model" for r in results_rows(root, baselines=[]))
    assert "| SVM rbf, C=1 | 001 (baseline) | eGeMAPSv02 (88) | clean | – | 35.0 | 17.5 | – | – | – |" in build_report(root)


def test_readme_blocks_go_only_into_a_markdown_file(tmp_path, capsys):
    from crnn.cli import main
    from crnn.core.errors import CrnnError
    from crnn.tasks.report import update_readme

    other = tmp_path / "accounts"  # a file that is not a README: left as it was
    other.write_text("root:x:0:0\n")
    for target in (other, tmp_path, tmp_path / "missing" / "README.md"):
        with pytest.raises(CrnnError, match="Markdown file"):
            update_readme(target, "| table |")
    assert other.read_text() == "root:x:0:0\n" and not (tmp_path / "missing").exists()
    assert main(["report", "--readme", str(other)]) == 2
    assert "Markdown file" in capsys.readouterr().err and other.read_text() == "root:x:0:0\n"
    fresh = tmp_path / "NOTES.md"  # a new README in an existing folder is fine
    update_readme(fresh, "| table |")
    assert fresh.read_text() == "<!-- results:start -->\n| table |\n<!-- results:end -->\n"
