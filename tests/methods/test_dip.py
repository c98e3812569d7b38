"""Deep Image Prior: the skip network, the loop's snapshot contract, guard, stopping, padding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from denoise_studio.core.history import IterateHistory
from denoise_studio.core.method import RunContext, Snapshot, run_to_end
from denoise_studio.methods import create_method
from denoise_studio.methods._common import dip_loop
from denoise_studio.methods._common.dip_fit import build_network
from denoise_studio.methods._common.dip_loop import fit
from denoise_studio.methods._common.skip_net import SkipConfig, SkipNet, parameter_count
from denoise_studio.methods.dip import DIP, DIPParams, network_for, resolve_preset

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TINY = SkipConfig(in_channels=8, channels_down=(8, 8, 8), channels_up=(8, 8, 8), channels_skip=(2, 2, 2))


def _noisy(clean: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(clean + rng.normal(0, 25 / 255, clean.shape), 0, 1).astype(np.float32)


def _run(noisy: np.ndarray, params: DIPParams, ctx: RunContext | None = None, cfg: SkipConfig = TINY, **kw: object) -> list[Snapshot]:
    ctx = ctx or RunContext()
    return list(fit(noisy, params, SkipConfig(**{**TINY.__dict__, "out_channels": noisy.shape[2]}) if cfg is TINY else cfg, ctx, **kw))  # type: ignore[arg-type]


def test_paper_network_matches_the_official_size() -> None:
    # The official denoising notebook prints "Number of params: 2217831" for this network.
    assert parameter_count(SkipNet(SkipConfig())) == 2_217_831
    assert SkipNet(SkipConfig()).multiple_of() == 32


def test_presets_resolve() -> None:
    assert resolve_preset("auto", "cpu") == "fast" and resolve_preset("auto", "cuda:0") == "paper"
    assert network_for("paper", 1).out_channels == 1 and network_for("paper", 3).resize == "bilinear"
    assert network_for("fast", 3).resize == "nearest"
    assert DIP.id == "dip" and DIP.family == "Deep Image Prior"
    assert type(create_method("dip")) is DIP


def test_few_iterations_follow_the_snapshot_contract(small_rgb: np.ndarray) -> None:
    clean = small_rgb[:32, :48]
    snaps = _run(_noisy(clean), DIPParams(iterations=4, variance_window=2), RunContext(reference=clean))
    steps, final = snaps[:-1], snaps[-1]
    assert [s.step for s in steps] == [1, 2, 3, 4] and all(s.total == 4 for s in snaps)
    assert steps[0].image is not None and steps[0].image.shape == clean.shape
    for s in steps:
        assert s.loss is not None and s.loss > 0
        assert {"psnr_noisy", "psnr_noisy_avg", "psnr_ref", "psnr_ref_avg"} <= set(s.scalars)
        assert s.scalars["psnr_noisy"] == pytest.approx(-10 * np.log10(s.loss), rel=1e-6)
    assert "variance_wmv" in steps[-1].scalars and "variance_emv" in steps[-1].scalars
    assert final.final and final.step == 4
    assert final.image is not None and final.image.dtype == np.float32 and final.image.shape == clean.shape
    assert 0.0 <= final.image.min() and final.image.max() <= 1.0
    assert {"raw", "average"} <= set(final.maps)
    np.testing.assert_array_equal(final.image, final.maps["average"])
    info = final.info
    assert info["stop_rule"] == "iterations" and info["stop_iteration"] == 4
    assert {"suggested_iteration_wmv", "suggested_iteration_emv", "kept", "guard_steps"} <= set(info)


@pytest.mark.parametrize("shape", [(31, 37, 3), (17, 40, 1)])
def test_padding_restores_the_shape(shape: tuple[int, int, int]) -> None:
    noisy = np.random.default_rng(0).random(shape, dtype=np.float32)
    final = _run(noisy, DIPParams(iterations=2))[-1]
    assert final.image is not None and final.image.shape == shape
    assert final.info["padded_shape"][0] % 8 == 0 and final.info["padded_shape"][0] >= shape[0]


def test_dip_method_runs_on_an_odd_grayscale_image(small_gray: np.ndarray) -> None:
    noisy = np.ascontiguousarray(small_gray[:31, :37])
    final = run_to_end(DIP(), noisy, DIPParams(iterations=2, preset="fast"), RunContext(seed=3))
    assert final.image is not None and final.image.shape == (31, 37, 1)
    assert final.info["preset"] == "fast"


def test_same_seed_same_result(small_rgb: np.ndarray) -> None:
    noisy = _noisy(small_rgb[:32, :32])
    a = _run(noisy, DIPParams(iterations=3), RunContext(seed=5))[-1].image
    b = _run(noisy, DIPParams(iterations=3), RunContext(seed=5))[-1].image
    c = _run(noisy, DIPParams(iterations=3), RunContext(seed=6))[-1].image
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_stop_mid_run_ends_with_a_final_snapshot(small_rgb: np.ndarray) -> None:
    ctx = RunContext()
    seen = []
    for snap in fit(_noisy(small_rgb[:32, :32]), DIPParams(iterations=100), TINY, ctx):
        seen.append(snap)
        if snap.step == 3 and not snap.final:
            ctx.request_stop()
    final = seen[-1]
    assert final.final and final.step == 3 and final.image is not None
    assert final.info["stop_rule"] == "user" and final.info["stop_iteration"] == 3
    assert len(seen) == 4


def test_stop_before_the_first_step_still_gives_a_result() -> None:
    ctx = RunContext()
    ctx.request_stop()
    snaps = _run(np.full((16, 16, 3), 0.5, np.float32), DIPParams(iterations=10), ctx)
    assert len(snaps) == 1 and snaps[0].final and snaps[0].image is not None and snaps[0].step == 0


class _Exploding(torch.nn.Module):
    """A network that wrecks its own weights at one call, like a diverging Adam step."""

    def __init__(self, at_call: int) -> None:
        super().__init__()
        self.net = build_network(TINY, 0)
        self.at_call = at_call
        self.calls = 0
        self.weights_at_call: dict[int, list[torch.Tensor]] = {}

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.weights_at_call[self.calls] = [p.detach().clone() for p in self.parameters()]
        if self.calls == self.at_call:
            with torch.no_grad():
                self.net.head.bias.fill_(-30.0)  # output ≈ 0 everywhere: PSNR vs noisy collapses
        return self.net(z)


def test_guard_restores_the_weights_when_the_loss_explodes(small_rgb: np.ndarray) -> None:
    net = _Exploding(at_call=5)
    # rule_input="training": one forward pass per step, so call k is step k.
    params = DIPParams(iterations=6, rule_input="training")
    snaps = list(fit(_noisy(small_rgb[:32, :32]), params, TINY, RunContext(), network=net))
    guard = [s.step for s in snaps if "guard" in s.events]
    assert guard == [5]
    assert snaps[-1].info["guard_steps"] == [5]
    # Restored to the weights that produced the last good output (step 4's forward pass).
    restored = net.weights_at_call[6]
    for a, b in zip(restored, net.weights_at_call[4]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert snaps[5].scalars["psnr_noisy"] > snaps[4].scalars["psnr_noisy"] + 5


def test_without_guard_the_explosion_stays(small_rgb: np.ndarray) -> None:
    net = _Exploding(at_call=3)
    params = DIPParams(iterations=4, guard=False, rule_input="training")
    snaps = list(fit(_noisy(small_rgb[:32, :32]), params, TINY, RunContext(), network=net))
    assert not any("guard" in s.events for s in snaps)
    assert float(net.net.head.bias.detach().max()) < -20


class _Recording(torch.nn.Module):
    """Records the outputs of its forward passes, split by whether gradients were on."""

    def __init__(self) -> None:
        super().__init__()
        self.net = build_network(TINY, 0)
        self.inputs: dict[bool, list[torch.Tensor]] = {True: [], False: []}
        self.outputs: dict[bool, list[torch.Tensor]] = {True: [], False: []}

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.net(z)
        self.inputs[torch.is_grad_enabled()].append(z.detach().clone())
        self.outputs[torch.is_grad_enabled()].append(out.detach().float().clone())
        return out


@pytest.mark.parametrize("rule_input", ["auto", "jitter-free", "training"])
def test_the_rules_measure_jitter_free_outputs_unless_told_otherwise(small_rgb: np.ndarray, rule_input: str) -> None:
    net = _Recording()
    params = DIPParams(iterations=6, variance_window=4, rule_input=rule_input, precision="float32")
    snaps = list(fit(_noisy(small_rgb[:32, :32]), params, TINY, RunContext(), network=net))
    jitter_free = rule_input != "training"
    assert len(net.outputs[False]) == (6 if jitter_free else 0)
    fed = net.outputs[not jitter_free][-4:]  # the window at step 6
    expected = float(torch.var(torch.stack(fed), dim=0, unbiased=False).mean())
    assert snaps[5].scalars["variance_wmv"] == pytest.approx(expected, rel=1e-5)
    if jitter_free:
        # The jitter-free pass sees z itself: every training input differs from it by the jitter.
        z = net.inputs[False][0]
        assert all(torch.equal(x, z) for x in net.inputs[False])
        assert all(not torch.equal(x, z) for x in net.inputs[True])


def test_without_jitter_the_rules_need_no_extra_pass(small_rgb: np.ndarray) -> None:
    net = _Recording()
    list(fit(_noisy(small_rgb[:32, :32]), DIPParams(iterations=3, input_noise=0.0), TINY, RunContext(), network=net))
    assert len(net.outputs[False]) == 0 and len(net.outputs[True]) == 3


def test_a_rule_stops_the_run_and_keep_rule_returns_its_iterate(small_rgb: np.ndarray) -> None:
    params = DIPParams(iterations=200, stop_rule="es-emv", keep="rule", variance_window=3, patience=4, learning_rate=1e-5, input_noise=0.2)
    snaps = _run(_noisy(small_rgb[:32, :32]), params)
    final = snaps[-1]
    assert final.info["stop_rule"] == "es-emv" and final.step < 200
    best = final.info["suggested_iteration_emv"]
    assert final.step == best + 4
    assert [s.step for s in snaps if "es-emv" in s.events] == [final.step]
    assert final.info["kept"] == "rule" and "suggested" in final.maps
    np.testing.assert_array_equal(final.image, final.maps["suggested"])


def test_keep_raw(small_rgb: np.ndarray) -> None:
    final = _run(_noisy(small_rgb[:32, :32]), DIPParams(iterations=3, keep="raw"))[-1]
    np.testing.assert_array_equal(final.image, final.maps["raw"])
    assert not np.array_equal(final.maps["raw"], final.maps["average"])


def test_keep_rule_falls_back_to_the_average_without_a_suggestion(small_rgb: np.ndarray) -> None:
    final = _run(_noisy(small_rgb[:32, :32]), DIPParams(iterations=2, keep="rule"))[-1]
    assert final.info["kept"] == "average" and "suggested" not in final.maps


def test_images_are_throttled(small_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dip_loop, "IMAGE_INTERVAL_S", 3600.0)
    snaps = _run(_noisy(small_rgb[:32, :32]), DIPParams(iterations=5))
    assert [s.image is not None for s in snaps[:-1]] == [True, False, False, False, False]


def test_every_iterate_goes_to_the_history(small_rgb: np.ndarray) -> None:
    history = IterateHistory(keyframe_interval=2)
    snaps = _run(_noisy(small_rgb[:32, :32]), DIPParams(iterations=5, ema_decay=0.0), RunContext(history=history))
    assert history.steps() == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(history.get(5), snaps[-1].maps["average"], atol=1e-3)


def test_pause_blocks_until_resume(small_rgb: np.ndarray) -> None:
    import threading

    ctx = RunContext()
    ctx.pause()
    timer = threading.Timer(0.3, ctx.resume)
    timer.start()
    snaps = _run(_noisy(small_rgb[:32, :32]), DIPParams(iterations=1), ctx)
    timer.join()
    assert snaps[-1].final and snaps[-1].step == 1


def test_compile_failure_falls_back_to_eager(small_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(fn: object) -> object:
        def call(*args: object) -> object:
            raise RuntimeError("no compiler")

        return call

    monkeypatch.setattr(torch, "compile", broken)
    snaps = _run(_noisy(small_rgb[:32, :32]), DIPParams(iterations=2, compile=True))
    assert snaps[0].events == ("eager",) and snaps[-1].final and snaps[-1].image is not None


def test_keep_rule_without_a_stop_rule_returns_es_emv_suggestion(small_rgb: np.ndarray) -> None:
    history = IterateHistory(budget_bytes=64 << 20)
    params = DIPParams(iterations=40, keep="rule", variance_window=4, precision="float32")
    final = _run(_noisy(small_rgb[:32, :32]), params, RunContext(history=history))[-1]
    emv, wmv = final.info["suggested_iteration_emv"], final.info["suggested_iteration_wmv"]
    assert final.info["kept"] == "rule" and emv is not None and emv != wmv
    np.testing.assert_allclose(final.image, history.get(emv), atol=2e-3)  # what was on screen then
    assert not np.allclose(final.image, history.get(wmv), atol=2e-3)
