"""FormResNet and DiffResNet: Sobel loss, formatting stage, residual form, determinism, cards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from denoise_studio.core.method import RunContext, run_to_end
from denoise_studio.core.network import SUPERVISED
from denoise_studio.core.weights import ModelCard, load_network, read_card, save_weights
from denoise_studio.methods import get_entry
from denoise_studio.methods.formresnet import (
    DIFF_NETWORK,
    NETWORK,
    PREFILTERS,
    DiffResNet,
    FormResNet,
    FormResNetParams,
    gradient_loss,
    sobel_gradients,
)


@pytest.fixture(autouse=True)
def _setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DENOISE_STUDIO_DATA_DIR", str(tmp_path / "userdata"))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _ramp(a: float, b: float, h: int = 9, w: int = 11) -> torch.Tensor:
    """x[i, j] = a·j + b·i on every channel."""
    i = torch.arange(h, dtype=torch.float64).view(-1, 1)
    j = torch.arange(w, dtype=torch.float64).view(1, -1)
    return (a * j + b * i).expand(1, 3, h, w).clone()


def test_sobel_of_a_ramp_is_its_slope() -> None:
    gx, gy = sobel_gradients(_ramp(0.25, -0.5))
    assert gx.shape == (1, 3, 7, 9)  # valid region only: no padding artefacts
    torch.testing.assert_close(gx, torch.full_like(gx, 0.25))
    torch.testing.assert_close(gy, torch.full_like(gy, -0.5))


def test_gradient_loss_of_two_ramps_and_its_gradient() -> None:
    target = _ramp(0.1, 0.0)
    estimate = _ramp(0.4, 0.2).requires_grad_(True)
    loss = gradient_loss(estimate, target)
    # (0.4 − 0.1)² horizontally + (0.2 − 0)² vertically.
    assert float(loss.detach()) == pytest.approx(0.09 + 0.04)
    loss.backward()
    assert estimate.grad is not None
    # A constant offset has no gradient: the loss sees only differences between pixels.
    assert float(estimate.grad.sum()) == pytest.approx(0.0, abs=1e-12)
    # Deep inside, every pixel is in 3×3 windows whose contributions cancel (a linear map of a
    # linear residual): the gradient vanishes away from the valid region's border.
    assert float(estimate.grad[..., 3:-3, 3:-3].abs().max()) == pytest.approx(0.0, abs=1e-12)
    # ... and at the border it pushes the slopes towards the target's.
    assert float(estimate.grad[..., :, -1].mean()) > 0 and float(estimate.grad[..., :, 0].mean()) < 0


def test_gradient_loss_zero_for_an_offset() -> None:
    target = _ramp(0.3, 0.1)
    assert float(gradient_loss(target + 0.2, target)) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name", sorted(PREFILTERS))
def test_prefilters_keep_constants_and_shape(name: str) -> None:
    x = torch.full((1, 3, 13, 10), 0.4)
    out = PREFILTERS[name](x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, x)


def test_prefilters_reduce_noise() -> None:
    g = torch.Generator().manual_seed(0)
    noise = 0.1 * torch.randn(1, 3, 32, 32, generator=g)
    for name in ("gaussian", "median", "bilateral"):
        assert float(PREFILTERS[name](0.5 + noise).std()) < 0.75 * float(noise.std())


def test_residual_forms() -> None:
    torch.manual_seed(0)
    diff = DIFF_NETWORK.build("lite").eval()
    form = NETWORK.build("lite").eval()
    y = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        torch.testing.assert_close(diff(y), y - diff.body(y))
        formatted = PREFILTERS["gaussian"](y)
        torch.testing.assert_close(form(y), formatted + form.body(torch.cat([y, formatted], 1)))
        # Another formatting stage can be swapped in at inference.
        assert not torch.allclose(form(y, "median"), form(y))


def test_configs_and_recipes() -> None:
    for spec in (NETWORK, DIFF_NETWORK):
        lite, paper = spec.build("lite"), spec.build("paper")
        n_lite = sum(p.numel() for p in lite.parameters())
        n_paper = sum(p.numel() for p in paper.parameters())
        assert n_lite < n_paper / 5
        r = spec.recipe("lite")
        assert r.supervision == SUPERVISED and r.sigma == (5.0, 55.0) and r.noise == "gaussian"
        with pytest.raises(ValueError):
            spec.build("huge")


def test_loss_parts() -> None:
    torch.manual_seed(0)
    net = NETWORK.build("lite")
    clean = torch.rand(2, 3, 24, 24)
    loss, parts = NETWORK.training_loss(net, clean + 0.1 * torch.randn_like(clean), clean, torch.Generator())
    assert set(parts) == {"l2", "sobel"}
    assert float(loss.detach()) == pytest.approx(float(parts["l2"] + parts["sobel"]), rel=1e-5)
    with pytest.raises(ValueError, match="supervised"):
        NETWORK.training_loss(net, clean, None, torch.Generator())


def test_registry_entries() -> None:
    assert get_entry("formresnet").load() is FormResNet
    assert get_entry("diffresnet").load() is DiffResNet
    assert FormResNet.spec() is NETWORK and DiffResNet.spec() is DIFF_NETWORK
    assert FormResNet.family == DiffResNet.family == "Supervised"


@pytest.mark.parametrize("cls", [FormResNet, DiffResNet])
def test_seeded_determinism_on_an_odd_image(cls: type, odd_rgb: np.ndarray) -> None:
    a, b, c = cls(), cls(), cls()
    a.use_random_weights(seed=4)
    b.use_random_weights(seed=4)
    c.use_random_weights(seed=5)
    ra = run_to_end(a, odd_rgb, cls.Params(), RunContext(seed=0)).image
    rb = run_to_end(b, odd_rgb, cls.Params(), RunContext(seed=0)).image
    rc = run_to_end(c, odd_rgb, cls.Params(), RunContext(seed=0)).image
    assert ra.shape == odd_rgb.shape and ra.dtype == np.float32
    np.testing.assert_array_equal(ra, rb)
    assert not np.array_equal(ra, rc)


def test_model_card_round_trip(tmp_path: Path, small_rgb: np.ndarray) -> None:
    torch.manual_seed(0)
    net = NETWORK.build("lite")
    card = ModelCard(
        method="formresnet",
        config="lite",
        recipe_command="denoise-studio train formresnet --clean X --config lite",
        training_data="BSDS-train",
        training_images=424,
        steps=1000,
        minutes=35.0,
        device="cpu",
        validation_psnr=28.1,
        limitations=NETWORK.limitations,
    )
    path = tmp_path / "formresnet-lite.safetensors"
    saved = save_weights(path, net.state_dict(), card, dtype="float16")
    assert read_card(path) == saved and "perceptual" in saved.limitations
    loaded, _ = load_network(path, NETWORK)
    method = FormResNet()
    out = run_to_end(method, small_rgb, FormResNetParams(weights=str(path)), RunContext()).image
    net.eval()
    with torch.no_grad():
        half = {k: (v.half().float() if v.is_floating_point() else v) for k, v in net.state_dict().items()}
        net.load_state_dict(half)
        x = torch.from_numpy(small_rgb.transpose(2, 0, 1).copy()).unsqueeze(0)
        expected = net(x).clamp(0, 1)[0].numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    # The wrong method's spec refuses these weights.
    with pytest.raises(Exception, match="not 'diffresnet'"):
        load_network(path, DIFF_NETWORK)
