"""Forward hooks that act only in the thread that registered them.

The app keeps one copy of each model in memory for every visitor. Analyses
that attach forward hooks (attributions replace the front-end's output, cell
ablation clamps LSTM cells, cell read-outs capture an LSTM's input) would
otherwise reach into another visitor's prediction running on the same model
at the same moment. Wrapped with :func:`this_thread_only`, a hook leaves
every other thread's forward pass untouched, so predictions need no lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

Hook = Callable[[Any, tuple, Any], Any]


def this_thread_only(hook: Hook) -> Hook:
    """``hook`` (module, args, output) → replacement or None, called only for forwards in the current thread."""
    owner = threading.get_ident()

    def guarded(module: Any, args: tuple, output: Any) -> Any:
        return hook(module, args, output) if threading.get_ident() == owner else None

    return guarded
