"""The ``crnn report`` subcommand: the README's generated tables (argparse → :mod:`crnn.tasks`).

Registered by :mod:`crnn.cli` through :func:`add_report_command`, as :mod:`crnn.cli_lab` registers the lab's
commands; errors are :class:`crnn.core.errors.CrnnError`, printed by ``crnn.cli.main`` as one line with exit
code 2.
"""

from __future__ import annotations

import argparse
from functools import partial
from typing import Any, Callable

Show = Callable[[Any, bool, Callable[[Any], str] | None], None]


def cmd_report(args: argparse.Namespace, show: Show) -> int:
    from crnn.core.errors import CrnnError
    from crnn.tasks.report import build_report, stored_baselines, update_readme

    if args.corpus and not args.seeds:
        raise CrnnError("--corpus goes with --seeds: it scores the ensembles of the runs that differ in their seed")
    if args.ablation:
        from crnn.tasks.ablation import ablation_rows as rows_of, ablation_table as table_of

        rows, block = rows_of(args.ablation, args.reference), "ablation"
    elif args.seeds:
        from crnn.tasks.ablation import ensemble_rows, seed_rows, seed_table as table_of

        rows, block = seed_rows(args.seeds), "seeds"
        if args.corpus:
            rows = ensemble_rows(rows, args.corpus)
    elif args.cv:
        from crnn.tasks.cv import cv_rows, cv_table as table_of

        rows, block = cv_rows(baselines=stored_baselines()), "cv"
    elif args.heads:
        from crnn.tasks.adapt import head_rows, heads_table as table_of

        rows, block = head_rows(), "heads"
    else:
        rows, block, table_of = None, "results", lambda _: build_report()
    if args.json and rows is not None:
        show(rows, True, str)
        return 0
    table = table_of(rows)
    if args.readme:
        update_readme(args.readme, table, block)
    print(table)
    return 0


def add_report_command(add: Callable[[str, Callable, str], argparse.ArgumentParser], show: Show) -> None:
    """Add ``report`` with cli's ``add(name, func, help)``; ``show`` prints a result."""
    p = add("report", partial(cmd_report, show=show), "results table of shipped checkpoints and baselines")
    p.add_argument("--readme", default=None, help="rewrite the results (or ablation) block of this README")
    p.add_argument("--ablation", default=None, metavar="DIR", help="the recipe ablation table of the runs in DIR")
    p.add_argument("--reference", default="lens", help="with --ablation: the run the others are compared with")
    p.add_argument("--seeds", default=None, metavar="DIR",
                   help="the runs in DIR that differ only in their training seed (crnn train --train-seed), grouped")
    p.add_argument("--corpus", default=None, metavar="DIR",
                   help="with --seeds: also score each group's ensemble (the mean of its runs' probabilities) on this corpus")
    p.add_argument("--cv", action="store_true", help="the five-fold cross-validation table (fold checkpoints <run>_cv<K>)")
    p.add_argument("--heads", action="store_true", help="the shipped checkpoints' speaker-adapted heads (crnn adapt)")
