"""``denoise-studio train`` end to end, its user errors, and DistributedDataParallel via torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from denoise_studio.cli import main
from denoise_studio.commands.train import parse_sigma
from denoise_studio.core.method import RunContext, run_to_end
from denoise_studio.core.weights import read_card
from denoise_studio.methods import create_method

TINY = ["--patch-size", "24", "--batch-size", "4", "--threads", "1", "--quiet"]


def test_train_writes_weights_that_the_method_loads(clean_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fr.safetensors"
    code = main(["train", "formresnet", "--clean", str(clean_dir), "--sigma", "10:40", "--steps", "6", "--validate-every", "3", "--out", str(out), *TINY])
    assert code == 0
    printed = capsys.readouterr()
    assert f"wrote {out}" in printed.out
    # --quiet: no bar, but one line per validation (steps 3 and 6) for a log file.
    assert [line.split()[:2] for line in printed.err.splitlines() if " val " in line] == [["step", "3/6"], ["step", "6/6"]]
    card = read_card(out)
    assert card.method == "formresnet" and card.config == "lite" and card.steps == 6 and card.sigma == [10.0, 40.0]
    assert card.recipe_command.startswith("denoise-studio train formresnet --clean ") and "--sigma 10:40" in card.recipe_command
    assert card.training_data == clean_dir.name and card.training_images == 5 and card.validation_psnr is not None
    method = create_method("formresnet")
    noisy = np.random.default_rng(0).random((30, 37, 3)).astype(np.float32)
    result = run_to_end(method, noisy, method.Params(weights=str(out)), RunContext())
    assert result.image is not None and result.image.shape == noisy.shape


def test_trained_weights_default_to_the_user_folder(clean_dir: Path, _private_user_dir: Path) -> None:
    assert main(["train", "diffresnet", "--clean", str(clean_dir), "--steps", "2", *TINY]) == 0
    written = list((_private_user_dir / "weights").glob("diffresnet-lite-*.safetensors"))
    assert len(written) == 1
    method = create_method("diffresnet")
    assert method.availability() is None
    assert [e.origin for e in method.available_weights()][-1] == "user"


def test_adapt_shipped_weights_to_one_noisy_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from denoise_studio.core.image import save_image
    from denoise_studio.core.noise import add_noise
    from denoise_studio.core.weights import find_weights, load_state_dict
    from denoise_studio.training.data import NOISY, DataSource
    from denoise_studio.training.loop import FINE_TUNE_LR_SCALE, Trainer, TrainJob

    clean = np.random.default_rng(1).random((64, 80, 3)).astype(np.float32)
    image = tmp_path / "my photo.png"
    save_image(image, add_noise(clean, "camera", 10.0, 0))
    shipped = find_weights("ap_bsn", "ap_bsn-lite")
    # The network starts from the shipped weights, at a tenth of the recipe's learning rate.
    trainer = Trainer(TrainJob("ap_bsn", "lite", DataSource(NOISY, image), steps=1, init_from=shipped.path, recipe_overrides={"patch_size": 40, "batch_size": 2}))
    start, _ = load_state_dict(shipped.path)
    for name, value in trainer.model.state_dict().items():
        if name in start:
            assert torch.equal(value, start[name]), name
    full = Trainer(TrainJob("ap_bsn", "lite", DataSource(NOISY, image), steps=1, recipe_overrides={"patch_size": 40, "batch_size": 2}))
    assert trainer.recipe.learning_rate == pytest.approx(FINE_TUNE_LR_SCALE * full.recipe.learning_rate)

    out = tmp_path / "adapted.safetensors"
    args = ["train", "ap_bsn", "--noisy", str(image), "--init", "ap_bsn-lite", "--steps", "2", "--out", str(out)]
    assert main([*args, "--patch-size", "40", "--batch-size", "2", "--threads", "1", "--quiet"]) == 0
    card = read_card(out)
    assert card.extra["fine_tuned_from"] == {"file": shipped.path.name, "sha256": shipped.card.sha256}
    assert "--init ap_bsn-lite" in card.recipe_command and card.steps == 2
    # --learning-rate replaces the fine-tuning rate (and any recipe's), and the card says so.
    out2 = tmp_path / "adapted2.safetensors"
    assert main([*args[:-1], str(out2), "--learning-rate", "0.0003", "--patch-size", "40", "--batch-size", "2", "--quiet"]) == 0
    card2 = read_card(out2)
    assert card2.recipe["learning_rate"] == pytest.approx(3e-4) and "--learning-rate 0.0003" in card2.recipe_command
    capsys.readouterr()
    # Weights of another method are refused with a one-line message.
    assert main(["train", "lg_bpn", "--noisy", str(image), "--init", str(shipped.path), "--steps", "1", "--quiet"]) == 2
    assert "not 'lg_bpn'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["nosuchmethod", "--clean", "{clean}"], "unknown method"),
        (["bm3d", "--clean", "{clean}"], "not a trainable network"),
        (["diffresnet", "--pairs", "{clean}", "--noise", "gaussian"], "--noise and --sigma go with --clean"),
        (["diffresnet", "--clean", "{clean}", "--sigma", "30:10"], "--sigma"),
        (["diffresnet", "--clean", "{clean}", "--config", "huge"], "unknown configuration"),
        (["diffresnet", "--clean", "/no/such/folder"], "no such file or folder"),
        (["diffresnet", "--noisy", "{clean}"], "supervised"),
        (["diffresnet", "--clean", "{clean}", "--out", "x.pt"], "must end in .safetensors"),
        (["diffresnet", "--pairs", "{clean}"], "noisy/ and clean/"),
    ],
)
def test_user_errors_are_one_line(extra: list[str], message: str, clean_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [a.replace("{clean}", str(clean_dir)) for a in extra]
    assert main(["train", *args, "--steps", "1", *TINY]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_parse_sigma() -> None:
    assert parse_sigma("25") == (25.0, 25.0)
    assert parse_sigma("5:55") == (5.0, 55.0)
    with pytest.raises(ValueError):
        parse_sigma("a:b")


def _losses(ckpt: Path) -> list[float]:
    return list(torch.load(ckpt, weights_only=True)["losses"])


@pytest.mark.slow
def test_torchrun_two_processes_on_gloo(clean_dir: Path, tmp_path: Path) -> None:
    """DistributedDataParallel with two CPU processes: it runs, and learns like one process.

    Each process takes half of the batch, so the global batch and the schedule are the same;
    the curves differ in detail (other patches) but have the same shape.
    """
    steps = 40
    common = ["train", "diffresnet", "--clean", str(clean_dir), "--sigma", "25", "--steps", str(steps), "--validate-every", "20", "--patch-size", "24", "--batch-size", "8", "--threads", "1", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = tmp_path / "single.safetensors"
    subprocess.run([sys.executable, "-m", "denoise_studio", *common, "--out", str(single)], check=True, env=env, timeout=600)
    double = tmp_path / "double.safetensors"
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531", "-m", "denoise_studio", *common, "--out", str(double)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    causes = [line for line in run.stderr.splitlines() if any(word in line for word in ("Error", "error:", "terminate", "what()", "Exception"))]
    assert run.returncode == 0, "\n".join(causes[:20]) + "\n...\n" + run.stderr[-1500:]
    card = read_card(double)
    assert card.processes == 2 and card.steps == steps
    assert card.recipe_command.startswith("torchrun --nproc_per_node 2 -m denoise_studio train diffresnet")
    a, b = np.array(_losses(single.with_suffix(".ckpt"))), np.array(_losses(double.with_suffix(".ckpt")))
    assert len(a) == len(b) == steps
    # Same shape: both fall by a similar factor from the first to the last quarter.
    drop_a = a[-10:].mean() / a[:10].mean()
    drop_b = b[-10:].mean() / b[:10].mean()
    assert drop_a < 0.7 and drop_b < 0.7
    assert abs(np.log(drop_a) - np.log(drop_b)) < 0.5
    assert read_card(single).validation_psnr == pytest.approx(card.validation_psnr, abs=1.5)
