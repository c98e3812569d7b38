"""InvDN: invertibility, structure, loss, the Monte Carlo ensemble and noise generation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from denoise_studio.core.method import RunContext, run_to_end
from denoise_studio.core.tiling import pad_to_requirements
from denoise_studio.methods import get_entry
from denoise_studio.methods._common.haar import haar_forward
from denoise_studio.methods.invdn import (
    CONFIGS,
    DENOISE,
    GENERATE,
    NETWORK,
    AffineCoupling,
    InvDN,
    InvDNConfig,
    InvDNNet,
    InvDNParams,
    bicubic_reference,
    generate_noisy_variants,
    invdn_loss,
    mc_restore,
    noise_statistics,
    parameter_count,
)

TINY = InvDNConfig(blocks=(2, 2), features=8)


def _net(config: InvDNConfig = TINY, channels: int = 3, seed: int = 0) -> InvDNNet:
    torch.manual_seed(seed)
    return InvDNNet(channels, config).eval()


def test_parameter_counts() -> None:
    # The paper reports 2.6 M parameters for RGB; ours counts 2,640,960 with its layer sizes.
    assert parameter_count(NETWORK.build("paper")) == 2_640_960
    assert parameter_count(NETWORK.build("lite")) == 448_032
    assert parameter_count(NETWORK.build("lite", channels=1)) < 448_032


@pytest.mark.parametrize("config", ["lite", "paper"])
def test_inverse_restores_input_on_random_weights(config: str) -> None:
    torch.manual_seed(3)
    net = NETWORK.build(config).eval()
    x = torch.rand(2, 3, 24, 20)
    with torch.no_grad():
        y = net(x)
        back = net(y, reverse=True)
    assert y.shape == (2, 48, 6, 5)
    # The random network really transforms its input (it is not the bare Haar transform) ...
    assert (y - haar_forward(haar_forward(x))).abs().max() > 1e-2
    # ... and still inverts exactly.
    assert (back - x).abs().max() < 1e-5


def test_grayscale_network_inverts() -> None:
    net = _net(channels=1)
    x = torch.rand(1, 1, 16, 12)
    with torch.no_grad():
        y = net(x)
        assert y.shape == (1, 16, 4, 3)
        assert (net(y, reverse=True) - x).abs().max() < 1e-5


def test_coupling_equations_and_clamp() -> None:
    torch.manual_seed(1)
    block = AffineCoupling(12, 3, features=8, clamp=1.0).double().eval()
    for p in block.parameters():  # large weights: the scale would explode without the clamp
        p.data.normal_(0.0, 1.0)
    x = torch.randn(1, 12, 5, 5, dtype=torch.float64)
    with torch.no_grad():
        y = block(x)
        y1 = x[:, :3] + block.F(x[:, 3:])
        torch.testing.assert_close(y[:, :3], y1)
        ratio = (y[:, 3:] - block.G(y1)) / x[:, 3:]
        assert ratio.min() > np.exp(-1.0) - 1e-6 and ratio.max() < np.exp(1.0) + 1e-6
        assert ratio.max() - ratio.min() > 2.0  # the scale saturates at both ends of the clamp
        torch.testing.assert_close(block(y, reverse=True), x, atol=1e-8, rtol=0)


def test_round_trip_call_matches_separate_passes() -> None:
    net = _net()
    x = torch.rand(1, 3, 16, 16)
    z = torch.randn(1, 45, 4, 4)
    with torch.no_grad():
        y, restored = net(x, latent=z)
        torch.testing.assert_close(y, net(x))
        torch.testing.assert_close(restored, net(torch.cat((y[:, :3], z), 1), reverse=True))


def test_low_resolution_channels_are_the_block_mean_for_a_bare_haar_net() -> None:
    # With zeroed subnetworks the couplings are identities, and the first channels divided by
    # 2^levels are the 4×4 block means of the input.
    net = _net()
    for p in net.parameters():
        p.data.zero_()
    x = torch.rand(1, 3, 16, 8)
    with torch.no_grad():
        torch.testing.assert_close(net.low_resolution(net(x)), torch.nn.functional.avg_pool2d(x, 4))


def test_loss_parts_and_training_lowers_it() -> None:
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    net = InvDNNet(3, TINY)
    clean = torch.rand(4, 3, 16, 16)
    noisy = clean + 0.1 * torch.randn(4, 3, 16, 16, generator=g)
    loss, parts = NETWORK.training_loss(net, noisy, clean, g)
    assert set(parts) == {"forward_mse", "backward_l1"}
    # Known answer of the weighting: 16 × per-image sum of squares + per-image sum of |·|.
    pixels = 3 * 16 * 16
    assert loss.item() == pytest.approx(float(16 * parts["forward_mse"] * pixels / 16 + parts["backward_l1"] * pixels), rel=1e-4)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    first = None
    for _ in range(15):
        g.manual_seed(1)  # the same latent draw every step: only the weights change
        loss, _ = invdn_loss(net, noisy, clean, g)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.7 * first
    with pytest.raises(ValueError, match="clean"):
        NETWORK.training_loss(net, noisy, None, g)


def test_bicubic_reference_of_a_constant_is_constant() -> None:
    ref = bicubic_reference(torch.full((1, 3, 16, 12), 0.4), 4)
    assert ref.shape == (1, 3, 4, 3)
    torch.testing.assert_close(ref, torch.full_like(ref, 0.4))


def test_recipes_and_configs() -> None:
    paper = NETWORK.recipe("paper")
    assert (paper.learning_rate, paper.steps, paper.grad_clip, paper.batch_size, paper.patch_size) == (2e-4, 600_000, 10.0, 28, 144)
    assert paper.milestones[0] * paper.steps == pytest.approx(100_000)
    assert NETWORK.recipe("lite").supervision == "supervised"
    assert NETWORK.size_requirements.multiple_of == 4
    assert set(CONFIGS) == set(NETWORK.configs)
    with pytest.raises(ValueError, match="unknown configuration"):
        NETWORK.build("huge")


def test_mc_ensemble_is_seeded_and_averages_the_draws() -> None:
    net = _net()
    x = torch.rand(1, 3, 16, 16)
    mean_a, std_a = mc_restore(net, x, torch.Generator().manual_seed(5), samples=4)
    mean_b, std_b = mc_restore(net, x, torch.Generator().manual_seed(5), samples=4)
    torch.testing.assert_close(mean_a, mean_b, rtol=0, atol=0)
    torch.testing.assert_close(std_a, std_b, rtol=0, atol=0)
    mean_c, _ = mc_restore(net, x, torch.Generator().manual_seed(6), samples=4)
    assert (mean_a - mean_c).abs().max() > 1e-4
    # The mean of 4 draws is the mean of the 4 single draws made from the same stream.
    g = torch.Generator().manual_seed(5)
    singles = torch.stack([mc_restore(net, x, g, samples=1)[0] for _ in range(4)])
    torch.testing.assert_close(mean_a, singles.mean(0), atol=1e-5, rtol=0)
    torch.testing.assert_close(std_a, singles.std(0, unbiased=False), atol=1e-4, rtol=0)
    assert mc_restore(net, x, g, samples=1)[1].abs().max() == 0


def test_noise_generation_keeps_input_at_zero_strength_and_redraws_at_one() -> None:
    net = _net()
    x = torch.rand(1, 3, 16, 16)
    same = generate_noisy_variants(net, x, torch.Generator().manual_seed(0), count=1, strength=0.0)
    assert same.shape == (1, 1, 3, 16, 16)
    assert (same[0] - x).abs().max() < 1e-5
    variants = generate_noisy_variants(net, x, torch.Generator().manual_seed(0), count=2, strength=1.0)
    assert (variants[0] - variants[1]).abs().mean() > 1e-3
    again = generate_noisy_variants(net, x, torch.Generator().manual_seed(0), count=2, strength=1.0)
    torch.testing.assert_close(variants, again, rtol=0, atol=0)


def test_noise_generation_reproduces_white_noise_statistics_through_a_bare_haar_net() -> None:
    # With identity couplings the latent is the Haar transform itself: redrawing it must give
    # noise with the same σ and no spatial correlation.
    net = _net()
    for p in net.parameters():
        p.data.zero_()
    g = torch.Generator().manual_seed(2)
    noise = 0.08 * torch.randn(1, 3, 128, 128, generator=g)
    noisy = 0.5 + noise
    out = generate_noisy_variants(net, noisy, g, count=1, strength=1.0)[0]
    real = noise_statistics(noise[0].permute(1, 2, 0).numpy())
    new_noise = (out - noisy.mean()).clone()
    # Remove the (kept) low-resolution part: compare the high-pass content only.
    gen = noise_statistics((new_noise - torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(new_noise, 4), scale_factor=4))[0].permute(1, 2, 0).numpy())
    ref = noise_statistics((noise - torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(noise, 4), scale_factor=4))[0].permute(1, 2, 0).numpy())
    assert real["std"] == pytest.approx(0.08 * 255, rel=0.03)
    assert gen["std"] == pytest.approx(ref["std"], rel=0.1)
    assert abs(gen["corr_x"] - ref["corr_x"]) < 0.05 and abs(gen["corr_y"] - ref["corr_y"]) < 0.05
    assert (out - noisy).abs().mean() > 0.03  # a new realisation, not the input


def test_noise_statistics_known_answers() -> None:
    rng = np.random.default_rng(0)
    white = rng.normal(0, 10 / 255, size=(200, 200, 3))
    stats = noise_statistics(white)
    assert stats["std"] == pytest.approx(10, rel=0.02)
    assert abs(stats["corr_x"]) < 0.02 and abs(stats["corr_y"]) < 0.02 and abs(stats["corr_c"]) < 0.02
    smooth = (white + np.roll(white, 1, axis=1)) / 2  # neighbours along x share half their noise
    assert noise_statistics(smooth)["corr_x"] == pytest.approx(0.5, abs=0.03)
    assert abs(noise_statistics(smooth)["corr_y"]) < 0.02


# ------------------------------------------------------------------------------- the method


def _method() -> InvDN:
    method = InvDN()
    method.use_random_weights(seed=0, config="lite")
    return method


def test_registry_entry() -> None:
    entry = get_entry("invdn")
    assert entry.load() is InvDN
    assert (entry.title, entry.family) == ("InvDN", "Supervised")
    assert InvDN.size_requirements.multiple_of == 4


def test_odd_sizes_are_padded_and_cropped_back(odd_rgb: np.ndarray) -> None:
    padded, pad = pad_to_requirements(odd_rgb, NETWORK.size_requirements)
    assert padded.shape[0] % 4 == 0 and padded.shape[1] % 4 == 0
    snap = run_to_end(_method(), odd_rgb, InvDNParams(samples=2), RunContext(seed=0))
    assert snap.image.shape == odd_rgb.shape and snap.image.dtype == np.float32
    assert snap.maps["uncertainty"].shape == odd_rgb.shape[:2]


def test_seeded_mc_ensemble_is_reproducible_and_draws_differ(small_rgb: np.ndarray) -> None:
    method = _method()
    params = InvDNParams(samples=3)
    a = run_to_end(method, small_rgb, params, RunContext(seed=7))
    b = run_to_end(method, small_rgb, params, RunContext(seed=7))
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.maps["uncertainty"], b.maps["uncertainty"])
    c = run_to_end(method, small_rgb, params, RunContext(seed=8))
    assert np.abs(a.image - c.image).max() > 0
    assert a.maps["uncertainty"].mean() > 0
    assert a.info["passes"] == 3


def test_encoding_is_shared_by_the_draws(small_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    method = _method()
    calls = {"encode": 0, "decode": 0}
    original_encode, original_decode = InvDNNet.encode, InvDNNet.decode

    def encode(self: InvDNNet, x: torch.Tensor) -> torch.Tensor:
        calls["encode"] += 1
        return original_encode(self, x)

    def decode(self: InvDNNet, y: torch.Tensor) -> torch.Tensor:
        calls["decode"] += 1
        return original_decode(self, y)

    monkeypatch.setattr(InvDNNet, "encode", encode)
    monkeypatch.setattr(InvDNNet, "decode", decode)
    run_to_end(method, small_rgb, InvDNParams(samples=5, self_ensemble=True), RunContext(seed=0))
    assert calls == {"encode": 8, "decode": 40}


def test_generate_mode_returns_a_new_noisy_image(small_rgb: np.ndarray) -> None:
    method = _method()
    snap = run_to_end(method, small_rgb, InvDNParams(mode=GENERATE, self_ensemble=True), RunContext(seed=1))
    assert snap.image.shape == small_rgb.shape and "uncertainty" not in snap.maps
    keep = run_to_end(method, small_rgb, InvDNParams(mode=GENERATE, strength=0.0), RunContext(seed=1))
    assert np.abs(keep.image - small_rgb).max() < 1e-4
    assert InvDNParams().mode == DENOISE


def test_a_denoised_result_keeps_the_inputs_colour_unless_told_not_to() -> None:
    rng = np.random.default_rng(4)
    noisy = (0.5 + rng.normal(0.0, 10 / 255, (48, 48, 3))).astype(np.float32)
    cast = np.full_like(noisy, 0.5) + np.asarray((3, -2, 1), np.float32) / 255  # the lite networks' flat casts
    method = _method()
    kept = method.finish(noisy, cast, {}, InvDNParams(), {})
    np.testing.assert_allclose(kept.mean(axis=(0, 1)), noisy.mean(axis=(0, 1)), atol=0.2 / 255)
    assert InvDNParams().keep_colour
    np.testing.assert_array_equal(method.finish(noisy, cast, {}, InvDNParams(keep_colour=False), {}), cast)
    np.testing.assert_array_equal(method.finish(noisy, cast, {}, InvDNParams(mode=GENERATE), {}), cast)  # a new noisy image


# ------------------------------------------------------------------------------- the command


def test_generate_noise_command(tmp_path, small_rgb: np.ndarray, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from denoise_studio.cli import main
    from denoise_studio.commands.generate_noise import output_paths
    from denoise_studio.core.image import load_image, save_image

    assert output_paths("a/b.png", 1) == [Path("a/b.png")]
    assert output_paths("a/b.png", 2) == [Path("a/b-1.png"), Path("a/b-2.png")]
    if not InvDN().available_weights():
        pytest.skip("no InvDN weights on disk")
    src = save_image(tmp_path / "in.png", small_rgb[:32, :32])
    code = main(["generate-noise", str(src), "-o", str(tmp_path / "gen.png"), "--count", "2", "--samples", "2", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert [Path(p).name for p in report["outputs"]] == ["gen-1.png", "gen-2.png"]
    assert set(report["real"]) == {"std", "corr_x", "corr_y", "corr_c"} and len(report["generated"]) == 2
    first, second = (load_image(p).pixels for p in report["outputs"])
    assert first.shape == (32, 32, 3) and np.abs(first - second).max() > 0
    assert main(["generate-noise", str(src), "-o", str(tmp_path / "x.png"), "--count", "0"]) == 2
