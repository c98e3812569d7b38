"""The model zoo: benchmark figures go into the card of the weights that were benchmarked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from denoise_studio.core import weights as weights_module
from denoise_studio.core.weights import ModelCard, list_weights, read_card, save_weights
from denoise_studio.training import zoo


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "weights"
    folder.mkdir()
    for name in ("invdn-lite-camera", "invdn-lite"):  # written in the "wrong" order on purpose
        save_weights(folder / f"{name}.safetensors", {"w": torch.zeros(2)}, ModelCard(method="invdn", config="lite"))
    monkeypatch.setattr(weights_module, "shipped_dirs", lambda: [folder])
    monkeypatch.setattr(weights_module, "user_weights_dir", lambda: tmp_path / "no user weights")
    return folder


def _bench(tmp_path: Path, params: dict[str, object], data: str = "McMaster") -> Path:
    path = tmp_path / f"bench-{data}.json"
    path.write_text(json.dumps({
        "data": f"../shared/data/testsets/{data}", "command": f"denoise-studio bench --data {data}", "params": {"invdn": params},
        "results": [{"method": "invdn", "noise": "camera", "sigma": 10, "images": 4, "psnr": 30.123, "ssim": 0.9}],
    }))
    return path


def test_the_default_weights_come_first_by_name(shipped: Path) -> None:
    assert [e.name for e in list_weights("invdn")] == ["invdn-lite", "invdn-lite-camera"]


def test_figures_go_to_the_named_weights(shipped: Path, tmp_path: Path) -> None:
    zoo.record_benchmark(_bench(tmp_path, {"weights": "invdn-lite-camera", "samples": 4}))
    assert read_card(shipped / "invdn-lite-camera.safetensors").benchmark == {"McMaster camera σ10 (4 images)": 30.12}
    assert read_card(shipped / "invdn-lite.safetensors").benchmark == {}
    zoo.record_benchmark(_bench(tmp_path, {"weights": "auto"}))
    assert read_card(shipped / "invdn-lite.safetensors").benchmark == {"McMaster camera σ10 (4 images)": 30.12}


def test_each_figure_keeps_the_command_that_measured_it(shipped: Path, tmp_path: Path) -> None:
    zoo.record_benchmark(_bench(tmp_path, {"weights": "auto"}, data="CBSD68"))
    zoo.record_benchmark(_bench(tmp_path, {"weights": "auto"}, data="McMaster"))
    card = read_card(shipped / "invdn-lite.safetensors")
    assert card.extra["benchmark_commands"] == {
        "CBSD68 camera σ10 (4 images)": "denoise-studio bench --data CBSD68",
        "McMaster camera σ10 (4 images)": "denoise-studio bench --data McMaster",
    }
    page = zoo.render()
    assert "- `denoise-studio bench --data CBSD68`" in page and "- `denoise-studio bench --data McMaster`" in page


def test_a_record_without_its_data_set_is_refused_and_output_paths_are_dropped(shipped: Path, tmp_path: Path) -> None:
    nameless = tmp_path / "nameless.json"
    nameless.write_text(json.dumps({"command": "", "results": [{"method": "invdn", "noise": "camera", "sigma": 10, "images": 4, "psnr": 30.0}]}))
    with pytest.raises(Exception, match="without its data set"):
        zoo.record_benchmark(nameless)
    assert read_card(shipped / "invdn-lite.safetensors").benchmark == {}
    assert zoo.portable_command("denoise-studio bench --data X --json /somewhere/a.json --markdown /else/b.md --quiet") == "denoise-studio bench --data X --quiet"
