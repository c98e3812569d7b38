"""The training loop: it learns, resumes exactly, keeps the best weights, respects budgets."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from denoise_studio.core.network import SELF_SUPERVISED, TrainRecipe
from denoise_studio.core.weights import load_network, read_card
from denoise_studio.methods.formresnet import DIFF_NETWORK, NETWORK
from denoise_studio.training import loop
from denoise_studio.training.data import CLEAN, NOISY, PAIRS, DataSource, PatchSampler, load_training_images
from denoise_studio.training.loop import Trainer, TrainingError, TrainJob, learning_rate_at

TINY = {"patch_size": 24, "batch_size": 4}


def _job(clean_dir: Path, **kw: object) -> TrainJob:
    values: dict[str, object] = dict(
        method_id="diffresnet",
        config="lite",
        source=DataSource(CLEAN, clean_dir, sigma=(25.0, 25.0)),
        steps=40,
        recipe_overrides=dict(TINY),
        validate_every=10,
    )
    values.update(kw)
    return TrainJob(**values)  # type: ignore[arg-type]


def test_a_short_run_lowers_the_loss(clean_dir: Path) -> None:
    trainer = Trainer(_job(clean_dir, steps=60, validate_every=30))
    reports = list(trainer.run())
    assert reports[-1].final and trainer.result is not None
    losses = trainer.result.losses
    assert len(losses) == 60
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:5])
    # Validation PSNR is measured at the validation steps and improves on the noisy input.
    steps = [s for s, _ in trainer.result.validation]
    assert steps == [30, 60]


def test_resume_reproduces_the_next_loss_exactly(clean_dir: Path, tmp_path: Path) -> None:
    ckpt = tmp_path / "run.ckpt"
    first = Trainer(_job(clean_dir, steps=12))
    for _ in range(6):
        first.train_step()
    first.save_checkpoint(ckpt, 0.0)
    expected = [first.train_step()[0] for _ in range(3)]
    resumed = Trainer(_job(clean_dir, steps=12, resume=ckpt))
    assert resumed.step == 6
    got = [resumed.train_step()[0] for _ in range(3)]
    assert got == expected  # bit-for-bit, not approximately
    for a, b in zip(first.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


def test_resume_refuses_another_method(clean_dir: Path, tmp_path: Path) -> None:
    ckpt = tmp_path / "run.ckpt"
    Trainer(_job(clean_dir, steps=2)).save_checkpoint(ckpt, 0.0)
    with pytest.raises(TrainingError, match="for method 'diffresnet'"):
        Trainer(_job(clean_dir, method_id="formresnet", resume=ckpt))
    with pytest.raises(TrainingError, match="seed 0"):
        Trainer(_job(clean_dir, seed=1, resume=ckpt))
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingError, match="not a readable checkpoint"):
        Trainer(_job(clean_dir, resume=tmp_path / "junk.ckpt"))


def test_same_seed_same_run(clean_dir: Path) -> None:
    a = Trainer(_job(clean_dir, steps=5))
    b = Trainer(_job(clean_dir, steps=5))
    assert [a.train_step()[0] for _ in range(3)] == [b.train_step()[0] for _ in range(3)]
    c = Trainer(_job(clean_dir, steps=5, seed=7))
    assert c.train_step()[0] != Trainer(_job(clean_dir, steps=5)).train_step()[0]


def test_best_weights_are_kept_and_written(clean_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "w.safetensors"
    trainer = Trainer(_job(clean_dir, steps=30, out=out, command="denoise-studio train diffresnet ..."))
    list(trainer.run())
    card = read_card(out)
    best_step, best = max(trainer.result.validation, key=lambda sv: sv[1])  # type: ignore[union-attr]
    assert card.best_step == best_step and card.validation_psnr == pytest.approx(best, abs=1e-3)
    assert card.steps == 30 and card.training_images == 5 and card.validation_images == 1
    assert card.recipe_command == "denoise-studio train diffresnet ..." and "Sobel" in card.limitations
    assert out.with_suffix(".ckpt").is_file()
    net, _ = load_network(out, DIFF_NETWORK)
    # The written weights reproduce the best validation figure (float16 only if that is free).
    assert trainer.validate({k: v for k, v in net.state_dict().items()}) == pytest.approx(best, abs=0.01)


def test_stop_request_ends_early_and_still_writes(clean_dir: Path, tmp_path: Path) -> None:
    stop = threading.Event()
    trainer = Trainer(_job(clean_dir, steps=1000, out=tmp_path / "w.safetensors"), stop)
    for report in trainer.run():
        if report.step == 3:
            stop.set()
    assert trainer.result is not None and trainer.result.stopped and trainer.result.steps == 3
    assert (tmp_path / "w.safetensors").is_file()


def _poison(model: torch.nn.Module) -> None:
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))


def test_a_nan_loss_stops_and_keeps_the_last_good_weights(clean_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "w.safetensors"
    trainer = Trainer(_job(clean_dir, steps=40, out=out, validate_every=10))
    reports = []
    for report in trainer.run():
        reports.append(report)
        if report.step == 14 and not report.final:
            _poison(trainer.model)  # the next step's loss is NaN, as after a diverging update
    result = trainer.result
    assert result is not None and result.steps == 14 and result.stopped
    assert result.diverged is not None and "step 15" in result.diverged and "step 10" in result.diverged
    assert reports[-1].final and reports[-1].message.startswith("stopped: the loss became nan")
    net, _ = load_network(out, DIFF_NETWORK)
    assert all(torch.isfinite(v).all() for v in net.state_dict().values())
    assert read_card(out).best_step == 10
    assert torch.load(out.with_suffix(".ckpt"), weights_only=False)["step"] == 10  # not overwritten


def test_a_nan_loss_before_any_validation_is_an_error(clean_dir: Path) -> None:
    trainer = Trainer(_job(clean_dir, steps=40, validate_every=10))
    _poison(trainer.model)
    with pytest.raises(TrainingError, match="no good weights"):
        list(trainer.run())


def test_time_budget_fits_the_schedule(clean_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loop, "FIT_AFTER_STEPS", 2)
    trainer = Trainer(_job(clean_dir, steps=None, minutes=0.02, validate_every=1000))
    list(trainer.run())
    assert trainer.fitted and trainer.total < trainer.recipe.steps
    assert trainer.result is not None and trainer.result.steps <= trainer.total


def test_self_supervised_loss_never_sees_the_clean_image(clean_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []
    original = DIFF_NETWORK.training_loss

    def spy(net, noisy, clean, generator):  # type: ignore[no-untyped-def]
        seen.append(clean)
        return original(net, noisy, noisy, generator)

    monkeypatch.setattr(DIFF_NETWORK, "training_loss", spy)
    trainer = Trainer(_job(clean_dir, steps=3, recipe_overrides={**TINY, "supervision": SELF_SUPERVISED}))
    list(trainer.run())
    assert seen == [None, None, None]
    assert trainer.result is not None and trainer.result.validation  # PSNR still measured on clean images


def test_supervised_method_refuses_noisy_only_data(clean_dir: Path) -> None:
    with pytest.raises(TrainingError, match="supervised"):
        Trainer(_job(clean_dir, source=DataSource(NOISY, clean_dir)))


def test_pairs_source_gives_aligned_patches(pairs_dir: Path) -> None:
    images = load_training_images(DataSource(PAIRS, pairs_dir), 24)
    assert images.count == 5 and len(images.val_clean) == 1
    noisy, clean = PatchSampler(images, 24, 6, seed=0, with_clean=True).batch(0)
    assert clean is not None and noisy.shape == clean.shape == (6, 3, 24, 24)
    residual = noisy - clean
    assert 0.06 < float(residual.std()) < 0.12  # σ 25/255 ≈ 0.098, a little less after clipping


def test_patches_are_a_function_of_step_and_rank(clean_dir: Path) -> None:
    images = load_training_images(DataSource(CLEAN, clean_dir, sigma=(5.0, 55.0)), 24)
    sampler = PatchSampler(images, 24, 4, seed=3, with_clean=True)
    a, b = sampler.batch(5), sampler.batch(5)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])  # type: ignore[arg-type]
    assert not np.array_equal(sampler.batch(5, rank=1)[0], a[0])
    assert not np.array_equal(sampler.batch(6)[0], a[0])


def test_learning_rate_schedules() -> None:
    cosine = TrainRecipe("supervised", 8, 2, 100, 1e-3, schedule="cosine", min_learning_rate=1e-5)
    assert learning_rate_at(cosine, 0, 100) == pytest.approx(1e-3)
    assert learning_rate_at(cosine, 50, 100) == pytest.approx((1e-3 + 1e-5) / 2)
    assert learning_rate_at(cosine, 100, 100) == pytest.approx(1e-5)
    steps = TrainRecipe("supervised", 8, 2, 100, 1e-3, milestones=(0.5, 0.75), gamma=0.1)
    assert [learning_rate_at(steps, s, 100) for s in (49, 50, 75)] == pytest.approx([1e-3, 1e-4, 1e-5])


def test_formresnet_trains_too(clean_dir: Path) -> None:
    trainer = Trainer(_job(clean_dir, method_id="formresnet", steps=4))
    assert trainer.spec is NETWORK
    assert all(np.isfinite(trainer.train_step()[0]) for _ in range(4))


def test_in_memory_noisy_image_for_self_supervised_training(rng: np.random.Generator) -> None:
    noisy = rng.random((40, 50, 3)).astype(np.float32)
    source = DataSource(NOISY, Path("current image"), arrays=[noisy], name="current image")
    images = load_training_images(source, 24)
    assert images.count == 1 and not images.val_clean  # a single image: nothing held out
    batch, clean = PatchSampler(images, 24, 3, seed=0, with_clean=False).batch(0)
    assert clean is None and batch.shape == (3, 3, 24, 24)
    # Every patch is a flipped/rotated crop of the image: its values come from it.
    assert np.isin(batch[0].ravel(), noisy.ravel()).all()
