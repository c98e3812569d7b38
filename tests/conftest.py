"""Shared fixtures. Qt is told to render offscreen before anything imports it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
import torch
from hypothesis import settings

from denoise_studio.core.image import load_image

# One intra-op thread per test: on a shared 2-core machine oversubscribed torch threads made a
# training step 80× slower (5.9 s against 0.07 s), and results do not depend on the timing.
torch.set_num_threads(1)

# Fuzz and property tests are derandomised: the same cases on every run, in CI and here.
settings.register_profile("default", derandomize=True, max_examples=60, print_blob=True)
settings.register_profile("thorough", derandomize=False, max_examples=2000, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def fitted_cpu_speed() -> None:
    """Cost estimates as fitted: the DIP speed probe (methods/_common/dip_speed.py) does not run
    in tests, whose timings would make estimates differ from run to run."""
    from denoise_studio.methods._common import dip_speed

    dip_speed.set_ratio(1.0)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A private user data folder; the registry forgets its imported models afterwards."""
    from denoise_studio import methods as registry  # here: importing conftest loads no registry

    previous = os.environ.get("DENOISE_STUDIO_DATA_DIR")
    os.environ["DENOISE_STUDIO_DATA_DIR"] = str(tmp_path / "userdata")
    registry.refresh_imported()
    yield tmp_path / "userdata"
    if previous is None:
        del os.environ["DENOISE_STUDIO_DATA_DIR"]
    else:
        os.environ["DENOISE_STUDIO_DATA_DIR"] = previous
    registry.refresh_imported()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """The built-in astronaut sample, 512×512 RGB."""
    return load_image("sample:astronaut").pixels


@pytest.fixture
def odd_rgb(astronaut: np.ndarray) -> np.ndarray:
    """A deliberately odd-sized 37×31 RGB crop of a real image (rows × columns = 31 × 37)."""
    return np.ascontiguousarray(astronaut[100:131, 200:237])


@pytest.fixture
def small_rgb(astronaut: np.ndarray) -> np.ndarray:
    """A 64×64 RGB crop of a real image with both texture and flat regions."""
    return np.ascontiguousarray(astronaut[40:104, 180:244])


@pytest.fixture
def small_gray() -> np.ndarray:
    """A 64×64 grayscale crop of the camera sample (H×W×1)."""
    return np.ascontiguousarray(load_image("sample:camera").pixels[100:164, 200:264])
