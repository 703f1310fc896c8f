"""Shared test settings: one torch thread (CI and the dev machine have two cores)."""

from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

RAVDESS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ravdess"


@pytest.fixture(scope="session")
def ravdess_root() -> Path:
    """The RAVDESS folder beside the project; tests that need it skip cleanly when it is absent."""
    if not RAVDESS.is_dir():
        pytest.skip("RAVDESS not found at ../shared/data/ravdess")
    return RAVDESS
