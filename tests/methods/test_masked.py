"""Masked Image Training: the masks, train/eval behaviour, determinism, sizes, the baseline twin."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from denoise_studio.core.tiling import crop_padding, pad_to_requirements
from denoise_studio.methods import masked
from denoise_studio.methods.masked import (
    ATTENTION_MASK_RATIO,
    NETWORK,
    NETWORK_BASELINE,
    MaskedSwinIR,
    SwinConfig,
    WindowAttention,
    input_mask,
    shifted_window_mask,
)

# A tiny configuration: the same code paths as lite/paper (two groups, plain + shifted windows).
TINY = SwinConfig(embed_dim=12, depths=(2, 2), num_heads=(3, 3), window_size=8, drop_path=0.0)


def _tiny(masked_: bool, seed: int = 0) -> MaskedSwinIR:
    torch.manual_seed(seed)
    return MaskedSwinIR(TINY, channels=3, masked=masked_)


def _attention_inputs(net: nn.Module, x: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
    """The tensors that enter every query/key/value projection during one forward pass."""
    seen: list[torch.Tensor] = []
    hooks = [
        m.qkv.register_forward_hook(lambda _m, args, _out: seen.append(args[0].detach()))
        for m in net.modules()
        if isinstance(m, WindowAttention)
    ]
    try:
        with torch.no_grad():
            net(x, generator=generator)
    finally:
        for h in hooks:
            h.remove()
    return seen


def _zero_token_fraction(tokens: list[torch.Tensor]) -> float:
    zero = torch.cat([(t == 0).all(dim=-1).flatten() for t in tokens])
    return float(zero.float().mean())


# ---------------------------------------------------------------------------- input mask


def test_input_mask_ratio_over_many_draws_lies_in_range() -> None:
    g = torch.Generator().manual_seed(3)
    ratios = torch.cat(
        [input_mask(16, 48, 40, g, torch.device("cpu")).float().mean(dim=(1, 2, 3)) for _ in range(25)]
    )
    assert ratios.shape == (400,)
    assert float(ratios.min()) >= 0.80 - 1e-3
    assert float(ratios.max()) <= 0.90 + 1e-3
    # The ratio is drawn uniformly in [0.8, 0.9]: mean 0.85, both ends visited.
    assert abs(float(ratios.mean()) - 0.85) < 0.005
    assert float(ratios.min()) < 0.81 and float(ratios.max()) > 0.89


def test_input_mask_is_shared_by_channels_and_uses_the_mask_token() -> None:
    net = _tiny(True).train()
    captured: list[torch.Tensor] = []
    hook = net.embed_norm.register_forward_hook(lambda _m, args, _o: captured.append(args[0].detach()))
    x = torch.rand(2, 3, 16, 24)
    net(x, generator=torch.Generator().manual_seed(0))
    hook.remove()
    tokens = captured[0]  # N×H×W×C after the mask
    is_token = (tokens == net.mask_token.detach()).all(dim=-1)
    fraction = is_token.float().mean(dim=(1, 2))
    assert torch.all((fraction >= 0.79) & (fraction <= 0.91))
    # Unmasked positions are the plain embedding of their own pixel.
    plain = net.embed(x - net.mean).permute(0, 2, 3, 1).detach()
    torch.testing.assert_close(tokens[~is_token], plain[~is_token])


def test_no_input_mask_in_eval_mode() -> None:
    net = _tiny(True).eval()
    captured: list[torch.Tensor] = []
    hook = net.embed_norm.register_forward_hook(lambda _m, args, _o: captured.append(args[0].detach()))
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        net(x, generator=torch.Generator().manual_seed(0))
    hook.remove()
    torch.testing.assert_close(captured[0], net.embed(x - net.mean).permute(0, 2, 3, 1))


@pytest.mark.parametrize(("mode", "mask_input", "expect_masked"), [("eval", True, True), ("train", False, False), ("eval", None, False)])
def test_mask_input_overrides_the_mode(mode: str, mask_input: bool | None, expect_masked: bool) -> None:
    """``mask_input`` (the diagnosis of training/fidelity.py) draws the input mask, or not, whatever the mode."""
    net = _tiny(True).train(mode == "train")
    captured: list[torch.Tensor] = []
    hook = net.embed_norm.register_forward_hook(lambda _m, args, _o: captured.append(args[0].detach()))
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        net(x, generator=torch.Generator().manual_seed(0), mask_input=mask_input)
    hook.remove()
    token = net.mask_token.detach()
    is_token = (captured[0] == token).all(dim=-1)
    assert bool(is_token.any()) is expect_masked
    if expect_masked:
        assert 0.75 < float(is_token.float().mean()) < 0.95


# ---------------------------------------------------------------------------- attention mask


def test_attention_mask_zeroes_75_percent_of_tokens() -> None:
    attn = WindowAttention(dim=8, window_size=8, num_heads=2, mask_ratio=ATTENTION_MASK_RATIO)
    x = torch.rand(400, 64, 8) + 0.1  # no token is zero by chance
    out = attn.drop_tokens(x, torch.Generator().manual_seed(1))
    zero = (out == 0).all(dim=-1)
    assert abs(float(zero.float().mean()) - 0.75) < 0.01
    # Whole tokens are dropped, kept ones are untouched (no rescaling).
    assert torch.equal((out == 0).any(dim=-1), zero)
    torch.testing.assert_close(out[~zero], x[~zero])


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_attention_mask_applies_in_every_layer_in_train_and_eval(mode: str) -> None:
    net = _tiny(True)
    net.train(mode == "train")
    tokens = _attention_inputs(net, torch.rand(2, 3, 32, 32), torch.Generator().manual_seed(5))
    assert len(tokens) == sum(TINY.depths)
    for t in tokens:
        assert abs(_zero_token_fraction([t]) - 0.75) < 0.05
    assert abs(_zero_token_fraction(tokens) - 0.75) < 0.02


def test_eval_output_is_stochastic_through_the_attention_mask() -> None:
    net = _tiny(True).eval()
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        a = net(x, generator=torch.Generator().manual_seed(1))
        b = net(x, generator=torch.Generator().manual_seed(2))
    assert not torch.allclose(a, b)


# ---------------------------------------------------------------------------- baseline twin


def test_baseline_has_no_masking_anywhere() -> None:
    net = _tiny(False)
    assert not hasattr(net, "mask_token")
    assert all(m.mask_ratio == 0.0 for m in net.modules() if isinstance(m, WindowAttention))
    x = torch.rand(1, 3, 16, 16) + 0.05
    for mode in (True, False):
        net.train(mode)
        tokens = _attention_inputs(net, x, torch.Generator().manual_seed(0))
        assert _zero_token_fraction(tokens) == 0.0
    # Deterministic whatever the generator, in both modes (drop path is off in TINY).
    for mode in (True, False):
        net.train(mode)
        with torch.no_grad():
            a = net(x, generator=torch.Generator().manual_seed(1))
            b = net(x, generator=torch.Generator().manual_seed(2))
        torch.testing.assert_close(a, b)


def test_specs_share_the_architecture_and_recipe() -> None:
    for config in ("lite", "paper"):
        a, b = NETWORK.build(config), NETWORK_BASELINE.build(config)
        extra = set(a.state_dict()) - set(b.state_dict())
        assert extra == {"mask_token"}
        assert set(b.state_dict()) <= set(a.state_dict())
        assert NETWORK.recipe(config) == NETWORK_BASELINE.recipe(config)
        assert NETWORK.recipe(config).sigma == (15.0, 15.0)
        assert NETWORK.recipe(config).noise == "gaussian"
    assert NETWORK.method_id == "masked" and NETWORK_BASELINE.method_id == "masked_baseline"
    assert NETWORK.masked and not NETWORK_BASELINE.masked


def test_paper_configuration_matches_released_numbers() -> None:
    net = NETWORK.build("paper")
    assert isinstance(net, MaskedSwinIR)
    cfg = net.config
    assert (cfg.embed_dim, cfg.depths, cfg.num_heads, cfg.window_size, cfg.mlp_ratio) == (60, (6,) * 4, (6,) * 4, 8, 2.0)
    assert net.embed.kernel_size == (1, 1)
    recipe = NETWORK.recipe("paper")
    assert (recipe.patch_size, recipe.batch_size, recipe.learning_rate, recipe.ema_decay) == (64, 64, 1e-4, 0.999)
    with pytest.raises(ValueError):
        NETWORK.build("huge")


# ---------------------------------------------------------------------------- structure


def test_shifted_window_mask_blocks_only_non_neighbours() -> None:
    mask = shifted_window_mask(16, 16, 8, 4, torch.device("cpu"))
    assert mask.shape == (4, 64, 64)
    assert torch.all(mask[0] == 0)  # the top-left window holds one region only
    # The bottom-right window mixes four regions of 16 tokens each: 4·16² allowed pairs.
    assert int((mask[3] == 0).sum()) == 4 * 16 * 16
    assert torch.all(torch.diagonal(mask, dim1=1, dim2=2) == 0)


def test_windows_see_only_their_window_without_shift() -> None:
    """With one plain-window layer, an output pixel depends on its own 8×8 window only."""
    cfg = SwinConfig(embed_dim=12, depths=(1,), num_heads=(3,), window_size=8, drop_path=0.0)
    torch.manual_seed(0)
    net = MaskedSwinIR(cfg, masked=False).eval()
    # Remove the convolutions' spatial reach so the attention's reach is what is measured.
    for conv in (net.conv_last, net.conv_after_body[0], net.conv_after_body[4], net.groups[0].conv[0], net.groups[0].conv[4]):
        with torch.no_grad():
            centre = conv.weight[:, :, 1:2, 1:2].clone()
            conv.weight.zero_()
            conv.weight[:, :, 1:2, 1:2] = centre
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    net(x)[0, :, 2, 3].sum().backward()
    assert x.grad is not None
    reach = x.grad.abs().sum(dim=(0, 1)) > 0
    assert reach[:8, :8].all() and not reach[8:, :].any() and not reach[:, 8:].any()


def test_determinism_with_a_seed() -> None:
    x = torch.rand(2, 3, 16, 16)
    clean = torch.rand(2, 3, 16, 16)
    outs = []
    for _ in range(2):
        net = _tiny(True, seed=7).train()
        loss, parts = NETWORK.training_loss(net, x, clean, torch.Generator().manual_seed(11))
        net.eval()
        with torch.no_grad():
            out = NETWORK.denoise(net, x, torch.Generator().manual_seed(12))
        outs.append((loss.item(), parts["l1"], out))
    assert outs[0][0] == outs[1][0] == pytest.approx(outs[0][1])
    torch.testing.assert_close(outs[0][2], outs[1][2], rtol=0, atol=0)


def test_training_loss_needs_clean_targets_and_backpropagates_to_the_token() -> None:
    net = _tiny(True).train()
    x = torch.rand(2, 3, 16, 16)
    with pytest.raises(ValueError):
        NETWORK.training_loss(net, x, None, torch.Generator())
    loss, _ = NETWORK.training_loss(net, x, torch.rand_like(x), torch.Generator().manual_seed(0))
    loss.backward()
    assert net.mask_token.grad is not None and float(net.mask_token.grad.abs().sum()) > 0


def test_odd_size_is_padded_to_the_window_and_cropped_back(odd_rgb: np.ndarray) -> None:
    req = NETWORK.size_requirements
    assert req.multiple_of == TINY.window_size
    padded, pad = pad_to_requirements(odd_rgb, req)
    assert padded.shape[:2] == (32, 40)
    net = _tiny(True).eval()
    with torch.no_grad():
        out = NETWORK.denoise(net, torch.from_numpy(padded).permute(2, 0, 1)[None], torch.Generator().manual_seed(0))
    back = crop_padding(out[0].permute(1, 2, 0).numpy(), pad)
    assert back.shape == odd_rgb.shape
    with pytest.raises(ValueError, match="multiple of the window"):
        net(torch.from_numpy(odd_rgb).permute(2, 0, 1)[None])


def test_grayscale_network() -> None:
    net = NETWORK.build("lite", channels=1).eval()
    with torch.no_grad():
        out = net(torch.rand(1, 1, 16, 16), generator=torch.Generator().manual_seed(0))
    assert out.shape == (1, 1, 16, 16)


def test_module_exposes_network() -> None:
    assert masked.NETWORK is NETWORK


# ---------------------------------------------------------------------------- the methods


def _method(method_id: str):  # type: ignore[no-untyped-def]
    from denoise_studio.methods import create_method

    method = create_method(method_id)
    method.use_random_weights(seed=0, config="lite")
    return method


def test_registry_entries_and_specs() -> None:
    from denoise_studio.methods import get_entry
    from denoise_studio.methods.masked import MaskedBaseline, MaskedDenoiser

    assert get_entry("masked").load() is MaskedDenoiser
    assert get_entry("masked_baseline").load() is MaskedBaseline
    assert MaskedDenoiser.spec() is NETWORK and MaskedBaseline.spec() is NETWORK_BASELINE
    assert MaskedDenoiser.family == MaskedBaseline.family == "Supervised"


def test_method_on_odd_image_with_passes_gives_uncertainty(odd_rgb: np.ndarray) -> None:
    from denoise_studio.core.method import RunContext, run_to_end

    method = _method("masked")
    params = method.Params(passes=3)
    a = run_to_end(method, odd_rgb, params, RunContext(seed=4))
    b = run_to_end(method, odd_rgb, params, RunContext(seed=4))
    c = run_to_end(method, odd_rgb, params, RunContext(seed=5))
    assert a.image is not None and b.image is not None and c.image is not None
    assert a.image.shape == odd_rgb.shape and a.image.dtype == np.float32
    np.testing.assert_array_equal(a.image, b.image)
    assert not np.array_equal(a.image, c.image)
    spread = a.maps["uncertainty"]
    assert spread.shape == odd_rgb.shape[:2] and float(spread.min()) >= 0 and float(spread.mean()) > 0
    single = run_to_end(method, odd_rgb, method.Params(passes=1), RunContext(seed=4))
    assert "uncertainty" not in single.maps


def test_baseline_method_is_deterministic_whatever_the_seed(odd_rgb: np.ndarray) -> None:
    from denoise_studio.core.method import RunContext, run_to_end

    method = _method("masked_baseline")
    a = run_to_end(method, odd_rgb, None, RunContext(seed=1))
    b = run_to_end(method, odd_rgb, None, RunContext(seed=2))
    assert a.image is not None and b.image is not None
    np.testing.assert_array_equal(a.image, b.image)
    assert a.image.shape == odd_rgb.shape


@pytest.mark.parametrize("method_id", ["masked", "masked_baseline"])
def test_both_methods_anchor_the_colour_to_the_input_unless_told_not_to(odd_rgb: np.ndarray, method_id: str) -> None:
    from denoise_studio.core.method import RunContext, run_to_end
    from denoise_studio.methods._common.colour_anchor import anchor_low_frequencies

    method = _method(method_id)
    bare = run_to_end(method, odd_rgb, method.Params(keep_colour=False), RunContext(seed=4)).image
    kept = run_to_end(method, odd_rgb, method.Params(), RunContext(seed=4)).image
    assert bare is not None and kept is not None
    expected = np.clip(anchor_low_frequencies(odd_rgb, bare, masked.ANCHOR_SIGMA, robust=True), 0, 1)
    np.testing.assert_allclose(kept, expected, atol=1e-5)
    assert not np.allclose(kept, bare, atol=1e-3)  # random weights cast colours; the anchor moved them
