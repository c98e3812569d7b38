"""NetworkMethod, the shared inference wrapper: weights choice, tiles, ensembles, OOM retreat."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import denoise_studio.methods._common.network as network_module
from denoise_studio.core.method import MethodError, RunContext, Snapshot, run_to_end
from denoise_studio.core.network import NetworkSpec, TrainRecipe
from denoise_studio.core.params import param
from denoise_studio.core.weights import ModelCard, WeightsError, save_weights
from denoise_studio.methods._common.network import NetworkMethod, NetworkParams


class SymmetricBlur(nn.Module):
    """A learnable 3×3 blur whose kernel is kept symmetric: equivariant to flips and rotations."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.a = nn.Parameter(torch.tensor([0.5, 0.1, 0.025]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c, e, k = self.a
        kernel = torch.stack([torch.stack([k, e, k]), torch.stack([e, c, e]), torch.stack([k, e, k])])
        kernel = kernel / kernel.sum()
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), kernel.expand(x.shape[1], 1, 3, 3).contiguous(), groups=x.shape[1])


class ToySpec(NetworkSpec):
    method_id = "toy"

    def build(self, config: str, channels: int = 3) -> nn.Module:
        self.check_config(config)
        return SymmetricBlur(channels)

    def recipe(self, config: str) -> TrainRecipe:
        return TrainRecipe("supervised", 8, 2, 10, 1e-3)

    def training_loss(self, net, noisy, clean, generator):  # type: ignore[no-untyped-def]
        return ((net(noisy) - clean) ** 2).mean(), {}


@dataclass(frozen=True)
class ToyParams(NetworkParams):
    passes: int = param(1, minimum=1, maximum=16)


class Toy(NetworkMethod[ToyParams]):
    id = "toy"
    title = "Toy"
    Params = ToyParams

    def ensemble_passes(self, params: ToyParams) -> int:
        return params.passes

    def forward(self, net, x, params, generator):  # type: ignore[no-untyped-def]
        out = net(x)
        if params.passes > 1:  # a stochastic method: seeded noise in every pass
            out = out + 0.05 * torch.randn(out.shape, generator=generator, device=out.device)
        return out


NETWORK = ToySpec()


@pytest.fixture(autouse=True)
def _private_user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DENOISE_STUDIO_DATA_DIR", str(tmp_path / "userdata"))
    return tmp_path / "userdata" / "weights"


@pytest.fixture
def image(rng: np.random.Generator) -> np.ndarray:
    return rng.random((70, 90, 3)).astype(np.float32)


def test_unavailable_without_weights() -> None:
    reason = Toy().availability()
    assert reason is not None and "denoise-studio train toy" in reason
    with pytest.raises(WeightsError):
        run_to_end(Toy(), np.zeros((8, 8, 3), np.float32))


def test_random_weights_run_tile_by_tile(image: np.ndarray) -> None:
    method = Toy()
    method.use_random_weights(seed=3)
    assert method.availability() is None
    snaps = []
    final = run_to_end(method, image, ToyParams(tile_size=32, tile_overlap=8), RunContext(seed=1), on_snapshot=snaps.append)
    assert final.final and final.image is not None and final.image.shape == image.shape and final.image.dtype == np.float32
    assert len(snaps) == final.total > 4 and [s.step for s in snaps] == list(range(1, final.total + 1))
    assert all(s.image is not None and s.image.shape == image.shape for s in snaps)
    whole = run_to_end(method, image, ToyParams(tile_size=0))
    np.testing.assert_allclose(final.image[3:-3, 3:-3], whole.image[3:-3, 3:-3], atol=1e-5)


def test_stop_between_tiles_gives_a_final_partial_result(image: np.ndarray) -> None:
    method = Toy()
    method.use_random_weights()
    ctx = RunContext()
    gen = method.run(image, ToyParams(tile_size=32, tile_overlap=8), ctx)
    first = next(gen)
    assert not first.final
    ctx.request_stop()
    last = next(gen)
    assert last.final and "stopped after tile" in last.message and last.step < last.total
    assert last.image is not None
    np.testing.assert_array_equal(last.image[-1, -1], image[-1, -1])  # not reached: the input


def test_self_ensemble_is_exact_for_an_equivariant_network(image: np.ndarray) -> None:
    method = Toy()
    method.use_random_weights()
    plain = run_to_end(method, image, ToyParams()).image
    ens = run_to_end(method, image, ToyParams(self_ensemble=True)).image
    np.testing.assert_allclose(ens, plain, atol=1e-6)


def test_stochastic_ensemble_gives_a_seeded_uncertainty_map(image: np.ndarray) -> None:
    method = Toy()
    method.use_random_weights()
    a = run_to_end(method, image, ToyParams(passes=8, tile_size=48, tile_overlap=16), RunContext(seed=5))
    b = run_to_end(method, image, ToyParams(passes=8, tile_size=48, tile_overlap=16), RunContext(seed=5))
    c = run_to_end(method, image, ToyParams(passes=8, tile_size=48, tile_overlap=16), RunContext(seed=6))
    spread = a.maps["uncertainty"]
    assert spread.shape == image.shape[:2] and spread.dtype == np.float32
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(spread, b.maps["uncertainty"])
    assert not np.array_equal(a.image, c.image)
    # The pass noise has σ 0.05; the population std of 8 samples is a little below it.
    assert 0.035 < float(np.median(spread)) < 0.055
    assert "uncertainty" not in run_to_end(method, image, ToyParams()).maps


def test_grey_image_through_a_colour_network(rng: np.random.Generator) -> None:
    method = Toy()
    method.use_random_weights()
    grey = rng.random((20, 24, 1)).astype(np.float32)
    assert run_to_end(method, grey, ToyParams()).image.shape == (20, 24, 1)


def test_weights_are_chosen_by_name_or_auto(_private_user_dir: Path, image: np.ndarray) -> None:
    net = ToySpec().build("lite")
    with torch.no_grad():
        net.a.copy_(torch.tensor([1.0, 0.0, 0.0]))  # identity kernel
    save_weights(_private_user_dir / "toy-lite-identity.safetensors", net.state_dict(), ModelCard(method="toy", config="lite"))
    method = Toy()
    assert method.availability() is None
    assert [e.name for e in method.available_weights()] == ["toy-lite-identity"]
    out = run_to_end(method, image, ToyParams())
    np.testing.assert_allclose(out.image, image, atol=1e-6)
    assert out.info["weights"] == "toy-lite-identity"
    named = run_to_end(method, image, ToyParams(weights="toy-lite-identity"))
    np.testing.assert_array_equal(named.image, out.image)
    with pytest.raises(MethodError, match="no weights named"):
        run_to_end(method, image, ToyParams(weights="missing"))


def test_gpu_out_of_memory_retreats_to_smaller_tiles_then_the_cpu(monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator) -> None:
    # "cpu:0" stands in for an accelerator: a network loaded for it is marked, and runs out of
    # memory on tiles wider than 40 px.
    monkeypatch.setattr(network_module, "resolve_device", lambda requested: "cpu:0")

    class Hungry(Toy):
        def load_network(self, params, device, channels):  # type: ignore[no-untyped-def]
            net, card = super().load_network(params, device, channels)
            net.fake_gpu = device == "cpu:0"
            return net, card

        def forward(self, net, x, params, generator):  # type: ignore[no-untyped-def]
            if net.fake_gpu and x.shape[-1] > 40:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
            return net(x)

    method = Hungry()
    method.use_random_weights()
    image = rng.random((300, 300, 3)).astype(np.float32)
    final = run_to_end(method, image, ToyParams(tile_size=256, tile_overlap=16))
    assert final.message.split("; ") == [
        "cpu:0 ran out of memory with 256-px tiles: going on with 128-px tiles",
        "cpu:0 ran out of memory with 128-px tiles: going on with 64-px tiles",
        "cpu:0 ran out of memory even with 64-px tiles: running on the CPU",
    ]
    assert final.info["device"] == "cpu" and final.info["tile_size"] == 256  # the CPU starts again with the asked size


def test_out_of_memory_halves_the_tiles_and_the_run_goes_on(image: np.ndarray) -> None:
    # A forward that runs out of memory, as the CPU allocator says it, on tiles wider than 80 px.
    class Hungry(Toy):
        def forward(self, net, x, params, generator):  # type: ignore[no-untyped-def]
            if x.shape[-1] > 80:
                raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 GB")
            return net(x)

    method = Hungry()
    method.use_random_weights()
    big = np.tile(image, (8, 8, 1))[:300, :300]
    snaps: list[Snapshot] = []
    final = run_to_end(method, big, ToyParams(tile_size=256, tile_overlap=16), on_snapshot=snaps.append)
    assert final.info["tile_size"] == 64 and final.info["device"] == "cpu"
    assert "going on with 64-px tiles" in final.message
    assert any("64 px" in s.message for s in snaps if not s.final)  # the status shows the side in use
    direct = Toy()
    direct.use_random_weights()
    np.testing.assert_allclose(final.image, run_to_end(direct, big, ToyParams(tile_size=64, tile_overlap=16)).image, atol=1e-6)


def test_out_of_memory_on_the_cpu_is_a_method_error(image: np.ndarray) -> None:
    class Hungry(Toy):
        def forward(self, net, x, params, generator):  # type: ignore[no-untyped-def]
            raise MemoryError("can't allocate memory")

    method = Hungry()
    method.use_random_weights()
    with pytest.raises(MethodError, match=r"out of memory on the CPU even with tiles of \d+ px"):
        run_to_end(method, np.tile(image, (4, 4, 1)), ToyParams())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(image: np.ndarray) -> None:
    method = Toy()
    method.use_random_weights()
    cpu = run_to_end(method, image, ToyParams(), RunContext(device="cpu")).image
    gpu = run_to_end(method, image, ToyParams(), RunContext(device="auto"))
    assert gpu.info["device"].startswith("cuda")
    np.testing.assert_allclose(gpu.image, cpu, atol=1e-5)
