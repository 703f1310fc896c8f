"""The ``crnn`` command line: every subcommand is a thin wrapper over a :mod:`crnn.tasks` (or analysis) function.

A problem the user caused (a bad file, folder or checkpoint) prints one line on
stderr and exits with code 2; nothing already written is touched.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

from crnn.cli_lab import seed_argument
from crnn.core.defaults import DEFAULT_MODEL, PAPER_001_MODEL
from crnn.core.errors import CrnnError, one_line


def _print(result: Any, as_json: bool, text: Callable[[Any], str] | None = None) -> None:
    if as_json or text is None:
        print(json.dumps(result, indent=2, default=_jsonable))
    else:
        print(text(result))


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _table(rows: list[dict], columns: list[str]) -> str:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


# --- subcommands -------------------------------------------------------------------------------


def cmd_corpus(args: argparse.Namespace) -> int:
    from crnn.core.corpora import describe, read_corpus

    corpus = read_corpus(args.path)
    info = describe(corpus)
    if args.levels:
        from crnn.core.data import load_waves, recording_levels

        info["levels"] = recording_levels(load_waves([u.path for u in corpus.utterances])[0])

    def level(d: dict, key: str) -> str:
        return f"{d[key]['median']:g} dBFS (5-95 %: {d[key]['p5']:g} to {d[key]['p95']:g})"

    def text(d: dict) -> str:
        labels = ", ".join(f"{k} {v}" for k, v in d["label_counts"].items())
        genders = ", ".join(f"{k} {v}" for k, v in d["genders"].items())
        levels = d.get("levels")
        return (
            f"{d['format']} corpus at {d['root']}: {d['utterances']} utterances, "
            f"{d['total_seconds'] / 3600:.2f} h, {d['speakers']} speakers ({genders})\n"
            f"labels: {labels}\nunreadable files: {len(d['unreadable'])}"
            + (f"\nlevel of the trimmed clips: peak {level(levels, 'peak_dbfs')}, RMS {level(levels, 'rms_dbfs')}"
               if levels else "")
        )

    _print(info, args.json, text)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from crnn.core.models import list_models

    rows = list_models()
    _print(rows, args.json, lambda r: _table(r, ["name", "family", "paper", "input", "parameters"]))
    return 0


def _epoch_line(event: dict) -> None:
    """One line on stderr per finished epoch, so a long training can be followed in its log."""
    if event.get("event") == "epoch":
        print(f"epoch {event['epoch']}/{event['max_epochs']}  loss {event['loss']:.3f}  validation UA {event['val_ua']:.3f}"
              f"  best {event['best_ua']:.3f} (epoch {event['best_epoch']})  {event['seconds'] / 60:.1f} min",
              file=sys.stderr, flush=True)
    elif event.get("event") == "restart":
        print(f"attempt {event['attempt'] + 1} stayed at chance (best validation UA {event['best_validation_ua']:.3f} "
              "after early stopping); starting again with another training seed", file=sys.stderr, flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    from crnn.analysis.train import train
    from crnn.core.models import model_settings

    limits = {k: getattr(args, k) for k in ("max_epochs", "min_epochs") if getattr(args, k) is not None}
    card = train(args.model, args.corpus, split=args.split, fold=args.fold, noisy=args.noisy, noise_dir=args.noise_dir,
                 out_dir=args.out, seed=args.seed, max_minutes=args.max_minutes, recipe=args.recipe,
                 overrides=args.set or [], overwrite=args.overwrite, logdir=args.logdir, progress=_epoch_line,
                 restarts=args.restarts, train_seed=args.train_seed, model_kwargs=model_settings(args.model, args.model_set),
                 **limits)
    metrics = card.get("metrics", {}).get("test", {})
    _print({"model": card["model"], "out": str(args.out or ""), "test": metrics}, args.json,
           lambda d: json.dumps(d["test"], indent=2))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from crnn.analysis.evaluate import calibrate_checkpoint, evaluate

    if args.calibrate:
        result = calibrate_checkpoint(args.model, args.corpus)
        _print(result, args.json, lambda r: f"temperature {r['temperature']:.3f}; test ECE {r['ece_test_before']:.3f} "
               f"→ {r['ece_test_after']:.3f}; written to the card")
        return 0
    result = evaluate(args.model, args.corpus, split=args.split, noisy=args.noisy, gain_db=args.gain_db)
    _print(result, args.json, lambda r: f"UA {r['ua']:.3f}  WA {r['wa']:.3f}  on {r['n']} utterances"
           + (f" at {r['gain_db']:+g} dB" if r["gain_db"] else ""))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import torch

    from crnn.tasks.predict import predict_files

    torch.set_num_threads(max(1, args.threads))  # before the first operation creates the thread pool
    failed = False
    results = []
    for item in predict_files(args.model, args.files, same_speaker=args.same_speaker):
        if "error" in item:
            print(one_line(item["error"]), file=sys.stderr)
            failed = True
            continue
        results.append(item)
        if not args.json:
            top = item["probabilities"][item["label"]]
            print(f"{item['file']}: {item['label']} ({top:.0%})")
            if "speaker_adapted" in item:
                adapted = item["speaker_adapted"]
                print(f"  speaker-adapted: {adapted['label']} ({adapted['probabilities'][adapted['label']]:.0%})")
            for row in item["over_time"]:
                print(f"  {row['start']:5.1f}-{row['end']:5.1f} s  {row['label']}")
    if args.json:
        _print(results, True)
    return 2 if failed else 0


def cmd_baseline(args: argparse.Namespace) -> int:
    from crnn.tasks.baselines import baseline_text, run_baseline
    from crnn.tasks.cv import cv_baseline

    if (args.features == "embedding") != (args.model is not None):
        raise CrnnError("--model goes with --features embedding, and --features embedding needs --model")
    if args.features == "embedding":
        from crnn.tasks.embedding_svm import embedding_baseline

        result = embedding_baseline(args.model, args.corpus, split=args.split, out=args.out, norm=args.norm)
    elif args.split == "cv":
        result = cv_baseline(args.features, args.corpus, seed=args.seed, out=args.out, norm=args.norm)
    else:
        result = run_baseline(args.features, args.corpus, split=args.split, seed=args.seed, out=args.out,
                              norm=args.norm)
    _print(result, args.json, baseline_text)
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from crnn.tasks.probe import run_probe

    corpus, bundle = (None, args.corpus) if args.corpus.endswith(".npz") else (args.corpus, None)
    result = run_probe(args.model, corpus, bundle=bundle, figure=args.figure, projection=args.projection,
                       save_bundle=args.write_bundle, control=args.control)
    _print(result, args.json)
    return 0


def cmd_cells(args: argparse.Namespace) -> int:
    from crnn.tasks.cells import run_cells

    result = run_cells(args.model, args.files, corpus=args.corpus, figure=args.figure, top=args.top, state=args.state,
                       control=args.control)
    _print(result, args.json)
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from crnn.tasks.explain import run_explain

    result = run_explain(args.model, args.file, target=args.target, method=args.method, figure=args.figure)
    _print(result, args.json)
    return 0


def cmd_noiselab(args: argparse.Namespace) -> int:
    from crnn.tasks.noiselab import run_noiselab

    result = run_noiselab(args.model, args.file, noise=args.noise, snr_db=args.snr, figure=args.figure)
    _print(result, args.json)
    return 0


def cmd_science(args: argparse.Namespace) -> int:
    from crnn.tasks.report import readme_path, update_readme
    from crnn.tasks.science import jsonable_rows, run_science, science_markdown

    readme = readme_path(args.readme) if args.readme else None  # a wrong path is refused before minutes of work
    result = run_science(args.model, args.corpus, figure=args.figure, cells=not args.no_cells)
    if readme is not None:
        update_readme(readme, science_markdown(result["rows"]), "science")

    def text(r: dict) -> str:
        return _table(jsonable_rows(r["rows"]), ["paper", "id", "verdict", "measured"]) + f"\n{r['counts']}"

    _print(result, args.json, text)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.load:
        from crnn.bench.load import load_text, run_load

        _print(run_load(sessions=args.sessions, minutes=args.minutes, browser_nice=args.browser_nice), args.json, load_text)
        return 0
    from crnn.bench import run_bench

    result = run_bench(corpus=args.corpus, app=not args.no_app)
    _print(result, args.json, lambda r: "\n".join(f"{k}: {v}" for k, v in r.items()))
    return 0


# --- parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crnn", description="CRNN Lens: look inside CNN+LSTM speech emotion models.")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Callable, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        p.add_argument("--json", action="store_true", help="print JSON")
        return p

    p = add("corpus", cmd_corpus, "report what a corpus folder holds")
    p.add_argument("path")
    p.add_argument("--levels", action="store_true",
                   help="also decode every clip and report how loud the corpus was recorded (peak and RMS, dBFS)")

    add("models", cmd_models, "list every registered model")

    p = add("train", cmd_train, "train a registered model on a corpus folder")
    p.add_argument("--model", required=True)
    p.add_argument("--corpus", required=True)
    p.add_argument("--split", choices=["tvt", "cv", "loso"], default="tvt",
                   help="tvt: seeded 70/10/20 speaker split; cv: five speaker-grouped folds; loso: one speaker out")
    p.add_argument("--fold", type=int, default=None, help="fold: 0-4 for cv, speaker index for loso")
    p.add_argument("--recipe", choices=["paper", "lens"], default="lens", help="training recipe (see the README)")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override one recipe setting, e.g. ema=0")
    p.add_argument("--noisy", action="store_true", help="noise augmentation, paper 001 Sec. 5.2")
    p.add_argument("--noise-dir", default=None, help="folder of noise recordings (default: coloured noise)")
    p.add_argument("--out", default=None, help="checkpoint folder (default: your models folder, ~/.crnn_lens/models/<model>)")
    p.add_argument("--overwrite", action="store_true", help="replace a finished checkpoint in --out")
    p.add_argument("--logdir", default=None, help="write TensorBoard scalars (loss, validation UA, learning rate) here")
    p.add_argument("--seed", type=seed_argument, default=0, help="seed of the split, and of the training unless --train-seed")
    p.add_argument("--train-seed", type=seed_argument, default=None, help="seed of initialisation, batch order, crops and noise "
                   "(default: --seed): the same split trained again with another draw")
    p.add_argument("--max-epochs", type=int, default=None, help="override the recipe's maximum")
    p.add_argument("--max-minutes", type=float, default=None, help="stop cleanly after this much training time")
    p.add_argument("--min-epochs", type=int, default=None, help="early stopping counts from this epoch")
    p.add_argument("--restarts", type=int, default=2, help="start again with another training seed, at most this "
                   "often, when early stopping ends a run whose validation UA never left chance (default 2)")
    p.add_argument("--model-set", action="append", metavar="ARG=VALUE", help="a model argument, e.g. conv_norm=1")

    p = add("evaluate", cmd_evaluate, "score a checkpoint on a corpus")
    p.add_argument("--model", default=DEFAULT_MODEL, help="shipped model name or checkpoint folder")
    p.add_argument("--corpus", required=True)
    p.add_argument("--split", default="test", choices=["train", "validation", "test", "all"])
    p.add_argument("--noisy", action="store_true")
    p.add_argument("--gain-db", type=float, default=0.0,
                   help="scale every clip by this gain (−60 to 60 dB, clipped to full scale): does the answer depend "
                        "on the recording level?")
    p.add_argument("--calibrate", action="store_true",
                   help="fit the temperature on the card's validation speakers and store it in the card (older checkpoints)")

    p = add("predict", cmd_predict, "predict the emotion of audio files")
    p.add_argument("--model", default=DEFAULT_MODEL, help="shipped model name or checkpoint folder")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: a clip takes a fraction of a second, and more threads only "
                   "spin against each other on a busy machine)")
    p.add_argument("--same-speaker", action="store_true",
                   help="the files are clips of one speaker: also give the checkpoint's speaker-adapted prediction "
                        "(its head from crnn adapt; it needs several clips)")
    p.add_argument("files", nargs="+")

    p = add("baseline", cmd_baseline, "openSMILE functionals + SVM baseline")
    p.add_argument("--features", choices=["egemaps", "compare", "embedding"], required=True,
                   help="openSMILE functionals, or embedding: a trained network's recurrent output (--model) "
                        "through the same standardisation and SVM")
    p.add_argument("--model", default=None, help="with --features embedding: a checkpoint name or folder "
                   "(with --split cv, its five fold checkpoints NAME_cv0..4)")
    p.add_argument("--corpus", required=True)
    p.add_argument("--split", choices=["tvt", "loso", "cv"], default="tvt",
                   help="tvt: the networks' split; loso: adds leave-one-speaker-out; cv: the five CV folds")
    p.add_argument("--seed", type=seed_argument, default=0)
    p.add_argument("--out", default=None, help="also write the result JSON here")
    p.add_argument("--norm", choices=["speaker", "training"], default="speaker",
                   help="speaker: z-score each speaker with its own statistics (default); training: with the "
                        "training speakers' statistics only, a control")

    from crnn.cli_report import add_report_command

    add_report_command(add, _print)  # results, ablation, seeds, cv and heads tables

    p = add("probe", cmd_probe, "module probes: LDA/UMAP, inertia ratios, SVM UA")
    p.add_argument("--model", default=DEFAULT_MODEL, help="shipped model name or checkpoint folder")
    p.add_argument("--corpus", required=True, help="corpus folder or a probe bundle (.npz)")
    p.add_argument("--figure", default=None, help="write the Fig. 2 grid (.html or .png)")
    p.add_argument("--projection", choices=["lda", "umap"], default="lda")
    p.add_argument("--write-bundle", action="store_true", help="save a compact probe bundle beside the checkpoint")
    p.add_argument("--control", action="store_true",
                   help="also probe the same architecture with random weights (needs a corpus folder)")

    p = add("cells", cmd_cells, "LSTM cells and gates against F0, loudness and energy")
    p.add_argument("--model", default=DEFAULT_MODEL, help="shipped model name or checkpoint folder")
    p.add_argument("files", nargs="*")
    p.add_argument("--corpus", default=None, help="aggregate over a corpus folder")
    p.add_argument("--figure", default=None)
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--state", choices=["c", "i", "f", "g", "o"], default=None,
                   help="rank only the cell states (c) or one gate; default all together")
    p.add_argument("--control", action="store_true", help="also rank an untrained copy of the model (random weights)")

    p = add("explain", cmd_explain, "attributions (Captum) for one file")
    p.add_argument("--model", default=DEFAULT_MODEL, help="shipped model name or checkpoint folder")
    p.add_argument("file")
    p.add_argument("--target", default=None, help="label to explain (default: the prediction)")
    p.add_argument("--method", choices=["ig", "saliency", "occlusion"], default="ig")
    p.add_argument("--figure", default=None)

    p = add("noiselab", cmd_noiselab, "how prediction and representations move with noise")
    p.add_argument("--model", default=DEFAULT_MODEL, help="shipped model name or checkpoint folder")
    p.add_argument("file")
    p.add_argument("--noise", choices=["white", "pink", "brown"], default="pink")
    p.add_argument("--snr", type=float, default=5.0, help="signal-to-noise ratio in dB")
    p.add_argument("--figure", default=None)

    from crnn.cli_lab import add_lab_commands

    add_lab_commands(add, _print)  # ablate, whatif, compare, adapt

    p = add("science", cmd_science, "every testable finding of the papers: measured, with intervals, controls, verdicts")
    p.add_argument("--model", default=PAPER_001_MODEL, help="model whose module probes are checked (paper 001)")
    p.add_argument("--corpus", default=None, help="corpus folder for the probes and cells (without: card rows only)")
    p.add_argument("--figure", default=None, help="write the verdict table (.html or .png)")
    p.add_argument("--no-cells", action="store_true", help="skip the paper-002 cell rows")
    p.add_argument("--readme", default=None, help="rewrite the science block of this README with the table")

    p = add("bench", cmd_bench, "speed figures")
    p.add_argument("--corpus", default=None, help="RAVDESS folder (default ../shared/data/ravdess)")
    p.add_argument("--no-app", action="store_true", help="skip the browser timings")
    p.add_argument("--load", action="store_true", help="instead: a load test, browser sessions on a local server")
    p.add_argument("--sessions", type=int, default=8, help="with --load: browser sessions at once")
    p.add_argument("--minutes", type=float, default=5.0, help="with --load: how long they keep going")
    p.add_argument("--browser-nice", type=int, default=0, help="with --load: the browsers' lower CPU priority (1-19)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "figure", None):  # refused before minutes of work, for every command that draws
            from crnn.core.fileio import check_figure_path

            check_figure_path(args.figure)
        return args.func(args)
    except CrnnError as exc:
        print(one_line(f"crnn {args.command}: {exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"crnn {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left early (`crnn report | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so exit's flush finds no pipe
        return 0


if __name__ == "__main__":
    sys.exit(main())
