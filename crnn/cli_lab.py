"""The lab's subcommands of ``crnn``: ``ablate``, ``whatif``, ``compare``, and ``adapt`` (argparse → :mod:`crnn.tasks`).

Registered by :mod:`crnn.cli` through :func:`add_lab_commands`; errors are
:class:`crnn.core.errors.CrnnError`, printed by ``crnn.cli.main`` as one line
with exit code 2.
"""

from __future__ import annotations

import argparse
from functools import partial
from typing import Any, Callable

from crnn.core.defaults import DEFAULT_MODEL
from crnn.core.errors import CrnnError

Show = Callable[[Any, bool, Callable[[Any], str] | None], None]


def seed_argument(text: str) -> int:
    """An argparse type for seeds, here and in :mod:`crnn.cli`: a whole number of 0 or more (numpy refuses
    negative ones, which would otherwise end a command in a traceback)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; seeds are 0 or more")
    return value


def cmd_ablate(args: argparse.Namespace, show: Show) -> int:
    from crnn.tasks.ablate import run_ablate

    result = run_ablate(args.model, args.corpus, feature=args.feature, top=args.top, state=args.state, to=args.to,
                        n_clips=args.clips, draws=args.draws, seed=args.seed, figure=args.figure)
    show(result, args.json, lambda r: f"top {r['k']} {r['feature']} cells: ΔUA {r['top']['delta_ua']:+.3f}; {r['k']} random "
         f"cells: ΔUA {r['random']['delta_ua_mean']:+.3f} ± {r['random']['delta_ua_sd'] or 0:.3f}")
    return 0


def cmd_whatif(args: argparse.Namespace, show: Show) -> int:
    from crnn.tasks.whatif import run_whatif

    result = run_whatif(args.model, args.file, pitch=args.pitch, tempo=args.tempo, loudness=args.loudness, out=args.out,
                        figure=args.figure)
    show(result, args.json, lambda r: f"{r['before']['label']} → {r['after']['label']}")
    return 0


def cmd_compare(args: argparse.Namespace, show: Show) -> int:
    from crnn.tasks.compare import run_compare

    if len(args.model) != 2:
        raise CrnnError("give exactly two models: --model A --model B")
    show(run_compare(args.model[0], args.model[1], args.corpus, figure=args.figure), args.json, None)
    return 0


def cmd_adapt(args: argparse.Namespace, show: Show) -> int:
    from crnn.tasks.adapt import cv_heads_text, cv_speaker_heads, fit_speaker_head, head_text

    if args.split == "cv":
        show(cv_speaker_heads(args.model, args.corpus), args.json, cv_heads_text)
    else:
        show(fit_speaker_head(args.model, args.corpus), args.json, head_text)
    return 0


def add_lab_commands(add: Callable[[str, Callable, str], argparse.ArgumentParser], show: Show) -> None:
    """Add ``ablate``, ``whatif``, ``compare`` and ``adapt`` with cli's ``add(name, func, help)``; ``show`` prints a result."""
    model = {"default": DEFAULT_MODEL, "help": "shipped model name or checkpoint folder"}
    p = add("ablate", partial(cmd_ablate, show=show), "clamp the LSTM cells that follow a prosodic feature; score without them")
    p.add_argument("--model", **model)
    p.add_argument("--corpus", required=True)
    p.add_argument("--feature", choices=["loudness", "f0", "rms", "rms_range"], default="loudness")
    p.add_argument("--top", type=int, default=5, help="how many cells to clamp")
    p.add_argument("--state", choices=["c", "i", "f", "g", "o"], default="c", help="cell state (c) or one gate")
    p.add_argument("--to", choices=["mean", "zero"], default="mean", help="clamp to the cell's corpus mean or to zero")
    p.add_argument("--clips", type=int, default=200, help="corpus clips scored")
    p.add_argument("--draws", type=int, default=5, help="random cell sets for the control")
    p.add_argument("--seed", type=seed_argument, default=0)
    p.add_argument("--figure", default=None, help="per-class effect, top cells beside random ones (.html or .png)")

    p = add("whatif", partial(cmd_whatif, show=show), "change a clip's pitch, tempo or loudness (Praat PSOLA)")
    p.add_argument("--model", **model)
    p.add_argument("file")
    p.add_argument("--pitch", type=float, default=0.0, help="semitones, -12 to 12")
    p.add_argument("--tempo", type=float, default=1.0, help="speed factor, 0.5 to 2")
    p.add_argument("--loudness", type=float, default=0.0, help="gain in dB, -30 to 30")
    p.add_argument("--out", default=None, help="write the changed clip here (.wav)")
    p.add_argument("--figure", default=None, help="both predictions and the cells' response (.html or .png)")

    p = add("compare", partial(cmd_compare, show=show), "linear CKA between every module of two models")
    p.add_argument("--model", action="append", required=True, help="give twice: --model A --model B")
    p.add_argument("--corpus", default=None, help="corpus folder (default: each checkpoint's probe bundle)")
    p.add_argument("--figure", default=None, help="modules × modules heatmap (.html or .png)")

    p = add("adapt", partial(cmd_adapt, show=show), "fit a checkpoint's speaker-adapted head (crnn predict --same-speaker)")
    p.add_argument("--model", **model)
    p.add_argument("--corpus", required=True, help="the corpus the checkpoint was trained on")
    p.add_argument("--split", choices=["tvt", "cv"], default="tvt",
                   help="tvt: the checkpoint's own split; cv: a head for each of its five fold checkpoints, "
                        "compared with the fold networks (mean ± sd, paired test over speakers)")
