"""Patches cut and noised on the training device: the same noise as the host's, and a run with them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from denoise_studio.core.image import save_image
from denoise_studio.core.noise import add_noise
from denoise_studio.training.data import CLEAN, DataSource, load_training_images
from denoise_studio.training.device_data import DevicePatchSampler
from denoise_studio.training.loop import Trainer, TrainJob


@pytest.fixture
def photo_folder(astronaut: np.ndarray, tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    save_image(folder / "wide.png", astronaut[:200, :300])
    save_image(folder / "tall.png", astronaut[200:500, 250:450])  # portrait: turned to landscape on the device
    return folder


def _sampler(folder: Path, noise: str, sigma: float, patch: int = 48, batch: int = 32) -> DevicePatchSampler:
    source = DataSource(CLEAN, folder, noise=noise, sigma=(sigma, sigma), validation_images=0)
    return DevicePatchSampler(load_training_images(source, patch), patch, batch, seed=7, with_clean=True, device="cpu")


def _neighbour_correlation(residual: np.ndarray) -> float:
    return float(np.corrcoef(residual[..., :, :-1].ravel(), residual[..., :, 1:].ravel())[0, 1])


def test_camera_noise_on_the_device_has_the_level_and_correlation_of_the_hosts(photo_folder: Path) -> None:
    sampler = _sampler(photo_folder, "camera", 15.0)
    noisy, clean = sampler.batch(0)
    assert clean is not None and noisy.shape == clean.shape == (32, 3, 48, 48)
    device = (noisy - clean).numpy()
    rng = np.random.default_rng(0)
    host = np.stack([add_noise(x, "camera", 15.0, rng) - x for x in clean.numpy().transpose(0, 2, 3, 1)]).transpose(0, 3, 1, 2)
    assert device.std() == pytest.approx(host.std(), rel=0.05)
    # Demosaicking spreads each raw sample's noise: neighbours are correlated (about 0.45), as on the host.
    assert _neighbour_correlation(device) == pytest.approx(_neighbour_correlation(host), abs=0.05)
    assert _neighbour_correlation(device) > 0.3


def test_gaussian_patches_are_crops_of_the_images_and_a_batch_depends_only_on_the_step(photo_folder: Path) -> None:
    sampler = _sampler(photo_folder, "gaussian", 25.0)
    noisy, clean = sampler.batch(5)
    assert clean is not None and float((noisy - clean).std()) * 255 == pytest.approx(25.0, rel=0.05)
    again, _ = sampler.batch(5)
    other, _ = sampler.batch(6)
    assert torch.equal(noisy, again) and not torch.equal(noisy, other)
    # Every clean patch is an 8-bit crop of one of the two photographs (in one of 8 orientations).
    values = clean.numpy() * 255
    assert np.allclose(values, np.round(values), atol=1e-3) and 0.0 <= values.min() and values.max() <= 255.0


def test_a_training_run_with_device_patches(photo_folder: Path, tmp_path: Path) -> None:
    source = DataSource(CLEAN, photo_folder, noise="camera", sigma=(5.0, 15.0), validation_images=1)
    job = TrainJob(method_id="formresnet", config="lite", source=source, out=tmp_path / "w.safetensors", steps=6,
                   device="cpu", device_data=True, validate_every=3, recipe_overrides={"batch_size": 4, "patch_size": 32})
    trainer = Trainer(job)
    assert isinstance(trainer.sampler, DevicePatchSampler)
    reports = list(trainer.run())
    assert reports[-1].final and trainer.result is not None and trainer.result.weights is not None
    assert trainer.step == 6 and all(np.isfinite(trainer.losses))


def test_deferred_losses_reach_the_host_at_reports_and_a_nan_still_stops_the_run(photo_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What CUDA does (losses read every SYNC_EVERY steps), forced on the CPU."""
    from denoise_studio.training import loop

    monkeypatch.setattr(loop, "SYNC_EVERY", 4)
    source = DataSource(CLEAN, photo_folder, noise="gaussian", sigma=(25.0, 25.0), validation_images=1)
    job = TrainJob(method_id="formresnet", config="lite", source=source, out=tmp_path / "w.safetensors", steps=10, device="cpu",
                   validate_every=5, recipe_overrides={"batch_size": 2, "patch_size": 32})
    trainer = Trainer(job)
    trainer.defer_losses = True
    reported = [(p.step, p.loss) for p in trainer.run() if not p.final]
    assert [step for step, loss in reported if loss is not None] == [4, 5, 8, 10]  # reports and validations
    assert len(trainer.losses) == 10 and all(np.isfinite(trainer.losses))

    broken = Trainer(job)
    broken.defer_losses = True
    original = broken.spec.training_loss

    def nan_from_step_6(net, noisy, clean, generator):  # type: ignore[no-untyped-def]
        loss, parts = original(net, noisy, clean, generator)
        return (loss * float("nan") if broken.step >= 6 else loss), parts

    monkeypatch.setattr(broken.spec, "training_loss", nan_from_step_6)
    list(broken.run())
    assert broken.result is not None and broken.result.diverged and "step 7" in broken.result.diverged
    assert broken.result.weights is not None  # the weights validated at step 5 are kept
