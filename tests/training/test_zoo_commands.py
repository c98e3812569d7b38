"""``denoise-studio zoo list | train | check`` on real weights and real images, tiny budgets."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from denoise_studio.cli import main
from denoise_studio.core.image import save_image
from denoise_studio.core.weights import find_weights, read_card
from denoise_studio.training.zoo_check import check_model, check_sigma
from denoise_studio.training.zoo_train import split_budget, zoo_models

ROOT = Path(__file__).resolve().parents[2]
CBSD68 = ROOT.parent / "shared" / "data" / "testsets" / "CBSD68"

# What an accelerator machine's Python lacks (docs/TRAINING.md): the training path must not need it.
_BLOCKED = ("PySide6", "pyqtgraph", "bm3d", "pywt", "platformdirs")


@pytest.fixture
def photo_folder(astronaut: np.ndarray, tmp_path: Path) -> Path:
    """Six 96×96 crops of a real photograph: a tiny training folder."""
    folder = tmp_path / "train"
    folder.mkdir()
    for i in range(6):
        y, x = 40 + 50 * (i % 3), 60 + 120 * (i // 3)
        save_image(folder / f"crop{i}.png", astronaut[y : y + 96, x : x + 96])
    return folder


def test_zoo_list_names_every_shipped_model_with_its_noise_and_training(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["zoo", "list", "--json"]) == 0
    rows = {row["weights"]: row for row in json.loads(capsys.readouterr().out)["models"]}
    assert {"formresnet-lite", "ap_bsn-lite", "masked-lite", "invdn-lite-camera"} <= set(rows)
    assert rows["ap_bsn-lite"]["noise"] == "camera" and rows["ap_bsn-lite"]["supervision"] == "self-supervised"
    assert rows["formresnet-lite"]["training"]["steps"] > 0 and rows["formresnet-lite"]["training"]["minutes"] > 0
    assert all(not label.startswith("?") for row in rows.values() for label in row["benchmark"])


def test_the_budget_is_shared_by_size_and_unknown_models_are_refused() -> None:
    models = zoo_models(["formresnet-lite", "invdn-lite"])
    shares = split_budget(models, 60.0)
    assert sum(shares.values()) == pytest.approx(60.0)
    assert shares["invdn-lite"] > shares["formresnet-lite"]  # 448k parameters against 77k
    with pytest.raises(Exception, match="no shipped model"):
        zoo_models(["no-such-model"])


def test_the_accelerator_command_runs_on_the_cpu_without_qt_bm3d_or_pywavelets(photo_folder: Path, tmp_path: Path) -> None:
    """docs/TRAINING.md's command with `--device cpu` and a budget of seconds, in a Python that
    cannot import what an accelerator machine lacks; twice, to show a finished model is skipped."""
    out = tmp_path / "zoo"
    code = textwrap.dedent(f"""
        import sys
        for name in {_BLOCKED!r}:
            sys.modules[name] = None  # importing it raises ImportError
        from denoise_studio.cli import main
        raise SystemExit(main(sys.argv[1:]))
    """)
    command = [sys.executable, "-c", code, "zoo", "train", "--models", "formresnet-lite", "--device", "cpu", "--budget-minutes", "0.05",
               "--from-shipped", "--data", str(photo_folder), "--out", str(out), "--threads", "1", "--batch-size", "4"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    weights = out / "formresnet-lite.safetensors"
    assert weights.is_file() and not weights.with_suffix(".ckpt").exists()
    card, shipped = read_card(weights), find_weights("formresnet", "formresnet-lite").card
    assert card.method == "formresnet" and card.config == "lite" and card.device == "cpu"
    # The periods add up: the shipped training and this one.
    periods, before = card.extra["periods"], shipped.extra.get("periods") or [{"steps": shipped.steps}]
    assert len(periods) == len(before) + 1 and sum(p["steps"] for p in periods[:-1]) == shipped.steps
    assert card.steps == shipped.steps + periods[-1]["steps"] and periods[-1]["steps"] > 0
    assert card.extra["fine_tuned_from"]["sha256"] == shipped.sha256
    again = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert again.returncode == 0 and "already there, skipped" in again.stderr


# Measured with `denoise-studio zoo check` (docs/BENCHMARKS.md, "Model zoo check"): these make
# CBSD68's first image worse than its noisy input at the noise they are for, or cast a colour on
# flat grey. Strict: a retrained file that passes must leave this list.
FAILING_CHECK: set[str] = set()


def _check_cases() -> list[object]:
    return [pytest.param(m.name, marks=pytest.mark.xfail(strict=True, reason="worse than its noisy input, or a colour cast (zoo check)"))
            if m.name in FAILING_CHECK else m.name for m in zoo_models()]


@pytest.mark.slow
@pytest.mark.skipif(not CBSD68.is_dir(), reason="the CBSD68 test set is not beside the checkout (../shared/data/testsets)")
@pytest.mark.parametrize("name", _check_cases())
def test_zoo_check_each_shipped_model_on_one_image(name: str) -> None:
    """The quick form of `zoo check`: one image at the noise the weights are for; no drift from
    the recorded figure, never worse than the noisy input, no colour cast on flat grey."""
    model = next(m for m in zoo_models() if m.name == name)
    row = check_model(model.entry, CBSD68, 1)
    assert row.recorded is not None, "record the figure: denoise-studio zoo check --record"
    assert not row.problems, row.problems
    assert row.sigma == check_sigma(model.entry)
