"""``denoise-studio zoo land``: a training period's weights replace the shipped ones, every period counted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from denoise_studio.cli import main
from denoise_studio.core import weights as weights_module
from denoise_studio.core.weights import file_sha256, read_card

ROOT = Path(__file__).resolve().parents[2]
NAME = "formresnet-lite"


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the real shipped FormResNet weights, standing in for resources/weights."""
    folder = tmp_path / "weights"
    folder.mkdir()
    for suffix in (".safetensors", ".json"):
        shutil.copyfile(ROOT / "resources" / "weights" / f"{NAME}{suffix}", folder / f"{NAME}{suffix}")
    monkeypatch.setattr(weights_module, "shipped_dirs", lambda: [folder])
    return folder


def _train(clean_dir: Path, out: Path, seed: int = 0) -> None:
    assert main(["train", "formresnet", "--clean", str(clean_dir), "--noise", "gaussian", "--sigma", "5:55", "--config", "lite",
                 "--init", NAME, "--steps", "3", "--threads", "1", "--seed", str(seed), "--quiet", "--out", str(out / f"{NAME}.safetensors")]) == 0


def test_landing_counts_every_period_and_keeps_what_was_written(shipped: Path, clean_dir: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    before = read_card(shipped / f"{NAME}.safetensors")
    run = tmp_path / "period"
    _train(clean_dir, run)
    trained = run / f"{NAME}.safetensors"
    assert main(["zoo", "land", str(run)]) == 0
    assert "landed" in capsys.readouterr().out
    landed = read_card(shipped / f"{NAME}.safetensors")
    assert file_sha256(shipped / f"{NAME}.safetensors") == file_sha256(trained) == landed.sha256
    periods = landed.extra["periods"]
    assert len(periods) == len(before.extra["periods"]) + 1 and periods[:-1] == before.extra["periods"]
    assert landed.steps == before.steps + 3 and landed.steps == sum(p["steps"] for p in periods)
    assert landed.minutes == pytest.approx(sum(p["minutes"] for p in periods), abs=0.01)
    for command in [landed.recipe_command, periods[-1]["command"]]:
        assert f"--out resources/weights/{NAME}.safetensors" in command and str(tmp_path) not in command
    assert (landed.limitations, landed.notes, landed.benchmark) == (before.limitations, before.notes, before.benchmark)
    assert landed.extra["benchmark_commands"] == before.extra["benchmark_commands"]
    assert not any(p.name.startswith(".") for p in run.iterdir())  # nothing staged is left behind

    # The same period again: it continues weights that are no longer the shipped ones.
    assert main(["zoo", "land", str(run)]) == 2
    assert "not continued from the shipped" in capsys.readouterr().err
    assert file_sha256(shipped / f"{NAME}.safetensors") == landed.sha256


def test_a_folder_without_shipped_names_or_with_other_weights_is_refused(shipped: Path, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["zoo", "land", str(tmp_path / "nowhere")]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["zoo", "land", str(empty)]) == 2
    assert "no weights named after a shipped model" in capsys.readouterr().err
    assert main(["zoo", "land", str(empty), "--models", NAME]) == 2
    assert f"no weights for {NAME}" in capsys.readouterr().err
