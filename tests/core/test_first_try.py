"""First-use defaults: what noise each shipped weights file is for, and DIP's first try."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from denoise_studio.core.curves import ES_EMV
from denoise_studio.core.weights import ModelCard, list_weights, noise_mismatch, noise_text
from denoise_studio.methods import create_method


def _card(method: str, name: str) -> ModelCard:
    return next(e.card for e in list_weights(method, include_user=False) if e.name == name)


def test_every_shipped_card_says_what_noise_it_is_for() -> None:
    shipped = list_weights(include_user=False)
    assert shipped and all(noise_text(e.card) for e in shipped)
    assert noise_text(_card("formresnet", "formresnet-lite")) == "Gaussian noise, σ 5–55"
    assert noise_text(_card("masked", "masked-lite")) == "Gaussian noise, σ 15"
    assert noise_text(_card("ap_bsn", "ap_bsn-lite")) == "camera noise, σ 5–15"


def test_camera_weights_do_not_fit_added_gaussian_noise() -> None:
    ap_bsn = _card("ap_bsn", "ap_bsn-lite")
    why = noise_mismatch(ap_bsn, 25.0, "gaussian")
    assert why is not None and "camera noise" in why and "Gaussian noise" in why
    assert noise_mismatch(ap_bsn, 10.0, "camera") is None
    assert noise_mismatch(ap_bsn, 60.0, "camera") is not None  # far stronger than trained for
    assert noise_mismatch(ap_bsn, 30.0, None) is None  # a photo: its noise is what camera weights are for


def test_gaussian_weights_check_the_sigma() -> None:
    masked = _card("masked", "masked-lite")  # trained at σ 15 only
    assert noise_mismatch(masked, 15.0, "gaussian") is None
    assert "stronger" in (noise_mismatch(masked, 50.0, "gaussian") or "")
    assert "weaker" in (noise_mismatch(masked, 3.0, None) or "")
    formresnet = _card("formresnet", "formresnet-lite")
    assert noise_mismatch(formresnet, 25.0, "poisson-gaussian") is None
    assert noise_mismatch(formresnet, 25.0, "camera") is not None
    assert noise_mismatch(ModelCard(method="x", config="y"), 25.0, "gaussian") is None  # a card that does not say


def test_dip_first_try_has_a_stop_rule_and_a_cap_while_the_paper_defaults_stay() -> None:
    dip = create_method("dip")
    paper = dip.Params()
    assert paper.iterations == 3000 and paper.stop_rule != ES_EMV and paper.patience == 1000 and paper.rule_every == 1  # the paper's
    on_cpu = dip.starting_params(None, "cpu")
    assert on_cpu.stop_rule == ES_EMV and on_cpu.iterations == 2000
    # Measured on 256×256 crops (docs/BENCHMARKS.md): a shorter patience ends nearer the peak of the averaged output.
    assert on_cpu.patience == 300 and on_cpu.rule_every == 4 and on_cpu.keep == "average"
    assert dip.starting_params(None, "cuda").iterations == 2500  # the paper preset peaks later
    nlm = create_method("nlm")
    assert nlm.starting_params(None, "cpu") == nlm.default_params(None)


def test_the_cli_starts_dip_with_the_rule(astronaut: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from denoise_studio.cli import main
    from denoise_studio.core.image import save_image

    save_image(tmp_path / "in.png", astronaut[:32, :32])
    assert main(["denoise", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"), "-m", "dip", "-p", "iterations=3",
                 "--json", "--quiet"]) == 0
    params = json.loads(capsys.readouterr().out)["params"]
    assert params["stop_rule"] == ES_EMV and params["iterations"] == 3
