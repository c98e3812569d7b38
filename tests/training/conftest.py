"""Tiny training folders cut from a built-in sample image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from denoise_studio.core.image import load_image, save_image


@pytest.fixture(scope="session")
def clean_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six 64×72 clean RGB crops (five for training, one held out for validation)."""
    folder = tmp_path_factory.mktemp("clean")
    pixels = load_image("sample:astronaut").pixels
    for i in range(6):
        save_image(folder / f"img{i}.png", np.ascontiguousarray(pixels[40 + 70 * i : 104 + 70 * i, 100 + 40 * i : 172 + 40 * i]))
    return folder


@pytest.fixture(scope="session")
def pairs_dir(tmp_path_factory: pytest.TempPathFactory, clean_dir: Path) -> Path:
    """noisy/ and clean/ sub-folders of the same names (σ 25 Gaussian, seeded)."""
    folder = tmp_path_factory.mktemp("pairs")
    (folder / "noisy").mkdir()
    (folder / "clean").mkdir()
    rng = np.random.default_rng(0)
    for path in sorted(clean_dir.glob("*.png")):
        clean = load_image(path).pixels
        save_image(folder / "clean" / path.name, clean)
        save_image(folder / "noisy" / path.name, np.clip(clean + rng.normal(0, 25 / 255, clean.shape), 0, 1).astype(np.float32))
    return folder


@pytest.fixture(autouse=True)
def _private_user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Trained weights of the tests never land in the real user data folder."""
    monkeypatch.setenv("DENOISE_STUDIO_DATA_DIR", str(tmp_path / "userdata"))
    return tmp_path / "userdata"


@pytest.fixture(autouse=True)
def _one_thread() -> object:
    """One torch thread: tiny networks gain nothing from more, and a shared CPU loses a lot
    (measured here: 0.07 s a step with one thread, 5.9 s with two on a loaded 2-core machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
