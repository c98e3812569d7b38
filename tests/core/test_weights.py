"""Weights files: safetensors round trip, model cards, checksums, architecture checks, listing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from denoise_studio.core.network import NetworkSpec, TrainRecipe
from denoise_studio.core.weights import (
    ModelCard,
    WeightsError,
    card_path,
    find_weights,
    half_precision_costs_nothing,
    list_weights,
    load_network,
    load_state_dict,
    read_card,
    save_weights,
    user_weights_dir,
)


class TinySpec(NetworkSpec):
    method_id = "tiny"

    def build(self, config: str, channels: int = 3) -> nn.Module:
        self.check_config(config)
        width = 4 if config == "lite" else 6
        return nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.Conv2d(width, channels, 1))

    def recipe(self, config: str) -> TrainRecipe:
        return TrainRecipe("supervised", 8, 2, 10, 1e-3)

    def training_loss(self, net, noisy, clean, generator):  # type: ignore[no-untyped-def]
        return ((net(noisy) - clean) ** 2).mean(), {}


@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DENOISE_STUDIO_DATA_DIR", str(tmp_path / "userdata"))
    return tmp_path / "userdata" / "weights"


def _saved(path: Path, config: str = "lite", dtype: str = "float32") -> tuple[nn.Module, ModelCard]:
    torch.manual_seed(0)
    net = TinySpec().build(config)
    card = ModelCard(method="tiny", config=config, training_data="unit", training_images=3, steps=10, validation_psnr=30.5)
    return net, save_weights(path, net.state_dict(), card, dtype=dtype)


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "tiny-lite.safetensors"
    net, card = _saved(path)
    assert card_path(path).is_file() and len(card.sha256) == 64 and card.created
    loaded, loaded_card = load_network(path, TinySpec())
    assert loaded_card == read_card(path) == card
    for (k, a), (k2, b) in zip(net.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a.float(), b.float())
    assert not loaded.training


def test_card_json_round_trip_keeps_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "tiny-lite.safetensors"
    _, card = _saved(path)
    data = json.loads(card_path(path).read_text())
    data["from_the_future"] = 1
    card_path(path).write_text(json.dumps(data))
    again = read_card(path)
    assert again.extra["from_the_future"] == 1 and again.validation_psnr == 30.5
    assert "30.50 dB" in again.summary()


def test_float16_storage_halves_the_file(tmp_path: Path) -> None:
    big = {"w": torch.randn(4000)}
    save_weights(tmp_path / "a.safetensors", big, ModelCard(method="tiny", config="lite"), dtype="float32")
    save_weights(tmp_path / "c.safetensors", big, ModelCard(method="tiny", config="lite"), dtype="float16")
    assert (tmp_path / "c.safetensors").stat().st_size < 0.6 * (tmp_path / "a.safetensors").stat().st_size
    net, card = _saved(tmp_path / "b.safetensors", dtype="float16")
    assert card.dtype == "float16"
    state, _ = load_state_dict(tmp_path / "b.safetensors")
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())
    w = net.state_dict()["0.weight"]
    torch.testing.assert_close(state["0.weight"], w.half().float())


def test_corrupted_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tiny-lite.safetensors"
    _saved(path)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # one flipped byte in the last tensor
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum mismatch"):
        load_network(path, TinySpec())


def test_truncated_file_without_checksum_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tiny-lite.safetensors"
    _, card = _saved(path)
    path.write_bytes(path.read_bytes()[:40])
    card.sha256 = ""
    card_path(path).write_text(json.dumps(card.to_json()))
    with pytest.raises(WeightsError, match="not a valid safetensors"):
        load_network(path, TinySpec())


def test_architecture_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "tiny.safetensors"
    torch.manual_seed(0)
    paper_net = TinySpec().build("paper")
    # Card claims "lite" but the tensors are the paper network's: sizes differ.
    save_weights(path, paper_net.state_dict(), ModelCard(method="tiny", config="lite"))
    # The header records "lite" too, so only the architecture check can catch it.
    with pytest.raises(WeightsError, match="do not fit this network's architecture.*another shape"):
        load_network(path, TinySpec())


def test_weights_of_another_method_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    save_weights(path, TinySpec().build("lite").state_dict(), ModelCard(method="other", config="lite"))
    with pytest.raises(WeightsError, match="weights for 'other', not 'tiny'"):
        load_network(path, TinySpec())


def test_card_and_header_must_agree(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    _, card = _saved(path)
    card.config = "paper"
    card_path(path).write_text(json.dumps(card.to_json()))
    with pytest.raises(WeightsError, match="card says 'paper'"):
        load_state_dict(path)


def test_missing_card(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    _saved(path)
    card_path(path).unlink()
    with pytest.raises(WeightsError, match="no model card"):
        load_state_dict(path)


def test_listing_user_weights(user_dir: Path) -> None:
    assert list_weights("tiny") == []
    _saved(user_dir / "tiny-lite-1.safetensors")
    (user_dir / "orphan.safetensors").write_bytes(b"no card")  # skipped, not an error
    entries = list_weights("tiny")
    assert [e.name for e in entries] == ["tiny-lite-1"] and entries[0].origin == "user"
    assert user_weights_dir() == user_dir
    assert find_weights("tiny", "tiny-lite-1").path == user_dir / "tiny-lite-1.safetensors"
    assert find_weights("tiny", str(user_dir / "tiny-lite-1.safetensors")).card.method == "tiny"
    with pytest.raises(WeightsError, match="available: tiny-lite-1"):
        find_weights("tiny", "nope")


def test_half_precision_decision() -> None:
    state = {"w": torch.linspace(-1, 1, 101)}
    assert half_precision_costs_nothing(state)
    assert not half_precision_costs_nothing({"w": torch.tensor([1e5])})  # overflows float16
    # With an evaluator: free only if the figure moves by less than the tolerance.
    assert half_precision_costs_nothing(state, evaluate=lambda s: 30.0)
    assert not half_precision_costs_nothing(state, evaluate=lambda s: float(s["w"][1]) * 1e4)
