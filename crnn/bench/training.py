"""Training speed of every registered model, for ``crnn bench``.

One training step is what the trainer does per mini-batch: forward pass in
train mode, cross-entropy on random labels, backward pass, Adam step. The
figure is utterances per second on one torch thread (the project's budget
is a shared 2-core CPU), on synthetic waves of ``seconds`` seconds, so it
needs neither a corpus nor a checkpoint. Time is the process's CPU time,
not wall-clock time: with one thread the two agree on an idle machine, and
on a shared one the CPU time is not inflated by waiting for a core (it
still is, somewhat, by shared caches and memory bandwidth).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from crnn.core.audio import SAMPLE_RATE

N_CLASSES = 8


@contextmanager
def _one_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def synthetic_batch(batch: int, seconds: float, seed: int = 0) -> torch.Tensor:
    """(batch, seconds · 16000) float32: noise with a 4 Hz syllable-like envelope, about -20 dBFS."""
    g = torch.Generator().manual_seed(seed)
    n = int(round(seconds * SAMPLE_RATE))
    t = torch.arange(n) / SAMPLE_RATE
    envelope = 0.3 + 0.7 * torch.sin(2 * torch.pi * 4 * t) ** 2
    return (0.1 * envelope * torch.randn(batch, n, generator=g)).float()


def step_time(name: str, seconds: float = 3.0, batch: int = 10, steps: int = 3, **overrides) -> float:
    """Median CPU seconds per training step (forward + backward + Adam) of registered model ``name``.

    One untimed warm-up step first (allocator, oneDNN primitive caches); then
    ``steps`` timed steps, of which the median is robust to a neighbour's
    burst of load. Call under one thread for the project's figure.
    """
    from crnn.core.models import build_model

    torch.manual_seed(0)
    model = build_model(name, N_CLASSES, **overrides).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    wave = synthetic_batch(batch, seconds)
    labels = torch.arange(batch) % N_CLASSES

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(wave), labels)
        loss.backward()
        optimizer.step()

    step()
    times = []
    for _ in range(steps):
        start = time.process_time()
        step()
        times.append(time.process_time() - start)
    return statistics.median(times)


def training_throughput(
    names: Iterable[str] | None = None, seconds: float = 3.0, batch: int = 10, steps: int = 3
) -> dict[str, float]:
    """Training utterances per second for each model in ``names`` (default: every registered model).

    Measured on one torch thread with batches of ``batch`` synthetic waves
    of ``seconds`` seconds (forward + backward + Adam step, see
    :func:`step_time`). Returns {name: utterances per second}.
    """
    from crnn.core.models import REGISTRY

    result: dict[str, float] = {}
    with _one_thread():
        for name in REGISTRY if names is None else names:
            result[name] = round(batch / step_time(name, seconds, batch, steps), 3)
    return result


if __name__ == "__main__":  # python -m crnn.bench.training [names...]
    import sys

    for model_name, rate in training_throughput(sys.argv[1:] or None).items():
        print(f"{model_name:20s} {rate:8.2f} utt/s")
