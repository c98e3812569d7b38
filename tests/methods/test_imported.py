"""Imported models: tiny networks of public architectures saved, imported and compared with their
own forward pass; refusals (super-resolution, corrupt, unknown, code in a pickle) that change
nothing; removal. Nothing is downloaded: the networks are built here with spandrel's classes."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from spandrel_nets import DENOISERS, direct_output, make_network, super_resolution_network

from denoise_studio import methods as registry
from denoise_studio.core.errors import UserError
from denoise_studio.core.imported_models import ImportedModelError, imported_dir, list_imported
from denoise_studio.core.method import MethodError, RunContext, run_to_end

# Sides that every tiny network takes as they are (DRUNet: multiples of 8; SCUNet: at least 40).
HEIGHT, WIDTH = 40, 48


def save_model(net: torch.nn.Module, path: Path) -> Path:
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def image(channels: int = 3, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    return np.random.default_rng(7).random((height, width, channels), dtype=np.float32)


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels.transpose(2, 0, 1).copy()).unsqueeze(0)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
@pytest.mark.parametrize("name", sorted(DENOISERS))
def test_an_imported_model_gives_its_own_forward_pass(name: str, suffix: str, data_dir: Path, tmp_path: Path) -> None:
    net = make_network(name)
    source = save_model(net, tmp_path / f"{name}{suffix}")
    before = sha256(source)
    entry = registry.import_model(str(source), name=name)
    assert entry.id == f"imported:{name}" and entry.family == "Imported"
    assert entry.card.architecture == DENOISERS[name][2]
    assert entry.card.parameters == sum(p.numel() for p in net.parameters())
    assert entry.card.sha256 == before == sha256(imported_dir() / f"{name}{suffix}")
    assert sha256(source) == before  # the user's file is only read

    channels = 1 if name.endswith("_grey") else 3
    noisy = image(channels)
    method = registry.create_method(entry.id)
    final = run_to_end(method, noisy, method.default_params(noisy), RunContext(device="cpu"))
    expected = direct_output(name, net, to_tensor(noisy))[0].numpy().transpose(1, 2, 0)
    assert final.image is not None and final.image.shape == noisy.shape and final.image.dtype == np.float32
    np.testing.assert_allclose(final.image, expected, atol=1e-5)


@pytest.mark.parametrize("suffix", [".pt", ".ckpt"])
def test_other_pickle_suffixes_and_an_id_as_the_name(suffix: str, data_dir: Path, tmp_path: Path) -> None:
    net = make_network("dncnn")
    entry = registry.import_model(str(save_model(net, tmp_path / f"model{suffix}")), name="imported:via-id")
    assert entry.id == "imported:via-id" and (imported_dir() / f"via-id{suffix}").is_file()
    noisy = image()
    expected = direct_output("dncnn", net, to_tensor(noisy))[0].numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(run_to_end(registry.create_method(entry.id), noisy).image, expected, atol=1e-5)  # type: ignore[arg-type]


def test_strength_blends_with_the_input_and_tiles_cover_the_image(data_dir: Path, tmp_path: Path) -> None:
    entry = registry.import_model(str(save_model(make_network("dncnn"), tmp_path / "m.pth")))
    assert entry.id == "imported:m"
    method = registry.create_method(entry.id)
    noisy = image(height=150, width=130)
    full = run_to_end(method, noisy, method.Params()).image
    half = run_to_end(method, noisy, method.Params(strength=0.5)).image
    none = run_to_end(method, noisy, method.Params(strength=0.0)).image
    assert full is not None and half is not None and none is not None
    np.testing.assert_allclose(half, np.clip(0.5 * full + 0.5 * noisy, 0, 1), atol=1e-5)
    np.testing.assert_array_equal(none, noisy)

    snaps = list(method.run(noisy, method.Params(tile_size=64, tile_overlap=16), RunContext()))
    assert snaps[-1].final and snaps[-1].info["tiles"] > 1 and len(snaps) == snaps[-1].info["tiles"]
    assert snaps[-1].image is not None
    # A 5-layer network sees 5 px around a pixel; in the 16-px overlaps the feathered blend of
    # two nearly equal tiles leaves no seam.
    np.testing.assert_allclose(snaps[-1].image, full, atol=1e-3)


def test_odd_sizes_grey_images_stop_and_cost(data_dir: Path, tmp_path: Path) -> None:
    entry = registry.import_model(str(save_model(make_network("drunet"), tmp_path / "drunet.safetensors")), name="unet")
    method = registry.create_method(entry.id)
    odd = image(height=37, width=31)
    result = run_to_end(method, odd, method.Params()).image
    assert result is not None and result.shape == odd.shape and 0 <= result.min() and result.max() <= 1
    grey = image(1, 37, 31)
    assert run_to_end(method, grey, method.Params()).image.shape == grey.shape  # type: ignore[union-attr]

    ctx = RunContext()
    ctx.request_stop()
    stopped = list(method.run(odd, method.Params(tile_size=64), ctx))
    assert stopped[-1].final and stopped[-1].image is not None

    cost = method.estimate_cost((3000, 4000, 3), method.Params())
    assert cost.tiled and cost.memory_bytes > 3000 * 4000 * 3 * 4 and cost.seconds is not None and cost.seconds > 0


def test_a_colour_image_goes_to_a_grey_model_channel_by_channel(data_dir: Path, tmp_path: Path) -> None:
    net = make_network("dncnn_grey")
    entry = registry.import_model(str(save_model(net, tmp_path / "grey.pth")))
    noisy = image(3)
    result = run_to_end(registry.create_method(entry.id), noisy).image
    assert result is not None
    for c in range(3):
        expected = direct_output("dncnn_grey", net, to_tensor(noisy[:, :, c : c + 1]))[0, 0].numpy()
        np.testing.assert_allclose(result[:, :, c], expected, atol=1e-5)


def assert_nothing_imported(data_dir: Path) -> None:
    assert list_imported() == []
    folder = data_dir / "imported"
    assert not folder.exists() or not any(folder.iterdir())
    assert not [k for k in registry.REGISTRY if k.startswith("imported:")]


def test_a_super_resolution_model_is_refused(data_dir: Path, tmp_path: Path) -> None:
    source = save_model(super_resolution_network(), tmp_path / "x2.pth")
    with pytest.raises(ImportedModelError, match=r"super-resolution model \(×2\)"):
        registry.import_model(str(source))
    assert_nothing_imported(data_dir)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is not a model", "corrupt or not a model file"),
        (b"", "corrupt or not a model file"),
    ],
)
def test_a_corrupt_file_is_refused(content: bytes, message: str, data_dir: Path, tmp_path: Path) -> None:
    for suffix in (".pth", ".safetensors", ".ckpt", ".pt"):
        source = tmp_path / f"broken{suffix}"
        source.write_bytes(content)
        with pytest.raises(ImportedModelError, match=message):
            registry.import_model(str(source))
    assert_nothing_imported(data_dir)


def test_a_truncated_file_is_refused(data_dir: Path, tmp_path: Path) -> None:
    whole = save_model(make_network("dncnn"), tmp_path / "whole.pth").read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ImportedModelError, match="corrupt"):
        registry.import_model(str(cut))
    assert_nothing_imported(data_dir)


class _RunsCode:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.getenv, ("HOME",))


def test_a_pickle_that_carries_code_is_refused_unrun(data_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "trojan.pth"
    torch.save({"model.0.weight": torch.zeros(1), "payload": _RunsCode()}, source)
    with pytest.raises(ImportedModelError, match=r"refused: .*could run code"):
        registry.import_model(str(source))
    assert_nothing_imported(data_dir)


def test_an_unknown_architecture_is_refused(data_dir: Path, tmp_path: Path) -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3), torch.nn.Conv2d(5, 3, 1))
    with pytest.raises(ImportedModelError, match="unknown architecture"):
        registry.import_model(str(save_model(net, tmp_path / "mystery.safetensors")))
    assert_nothing_imported(data_dir)


def test_bad_names_paths_and_duplicates_are_refused(data_dir: Path, tmp_path: Path) -> None:
    source = save_model(make_network("dncnn"), tmp_path / "d.pth")
    with pytest.raises(ImportedModelError, match="cannot name a model"):
        registry.import_model(str(source), name="../escape")
    with pytest.raises(ImportedModelError, match="no such file"):
        registry.import_model(str(tmp_path / "absent.pth"))
    other = tmp_path / "d.onnx"
    other.write_bytes(b"x")
    with pytest.raises(ImportedModelError, match="cannot import a .onnx"):
        registry.import_model(str(other))
    assert_nothing_imported(data_dir)
    registry.import_model(str(source))
    with pytest.raises(ImportedModelError, match="already imported"):
        registry.import_model(str(source))


def test_remove_takes_the_model_out(data_dir: Path, tmp_path: Path) -> None:
    entry = registry.import_model(str(save_model(make_network("nafnet"), tmp_path / "naf.pth")))
    assert entry.id in registry.REGISTRY
    registry.remove_model(entry.id)
    assert_nothing_imported(data_dir)
    with pytest.raises(UserError, match="unknown method"):
        registry.create_method(entry.id)
    with pytest.raises(ImportedModelError, match="no imported model"):
        registry.remove_model(entry.id)


def test_a_model_changed_after_import_is_refused_at_run_time(data_dir: Path, tmp_path: Path) -> None:
    entry = registry.import_model(str(save_model(make_network("dncnn"), tmp_path / "d.safetensors")))
    copy = imported_dir() / "d.safetensors"
    save_model(make_network("dncnn", seed=1), copy)
    with pytest.raises(MethodError, match="checksum mismatch"):
        run_to_end(registry.create_method(entry.id), image())


def test_a_new_process_finds_the_imported_models_and_nothing_is_downloaded(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("imported models must not use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    registry.import_model(str(save_model(make_network("dncnn"), tmp_path / "d.pth")), licence="CC-BY-4.0")
    # What a new process sees: the registry built afresh from the folder.
    rebuilt = registry._build(registry._ENTRIES + registry._imported_entries())
    assert "imported:d" in rebuilt and rebuilt["imported:d"].card.licence == "CC-BY-4.0"
    assert run_to_end(rebuilt["imported:d"].create(), image()).image is not None


@pytest.mark.parametrize("name", ["dncnn", "scunet"])
def test_an_imported_model_keeps_the_method_contract(name: str, data_dir: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The registry-wide contract suite (tests/methods/test_contract.py), on imported models."""
    import test_contract as contract

    method_id = registry.import_model(str(save_model(make_network(name), tmp_path / f"{name}.pth"))).id
    contract.test_entry_matches_its_class(method_id)
    contract.test_default_params_pass_their_checks(method_id)
    contract.test_every_parameter_has_a_description(method_id)
    odd_rgb = request.getfixturevalue("odd_rgb")
    images = {"odd_rgb": odd_rgb, "gray_crop": np.ascontiguousarray(request.getfixturevalue("small_gray")[5:34, 3:38])}

    class Fixtures:  # what the contract asks of pytest's request: its two images
        @staticmethod
        def getfixturevalue(fixture: str) -> np.ndarray:
            return images[fixture]

    for fixture in images:
        contract.test_output_has_the_input_shape_and_range(method_id, fixture, Fixtures())  # type: ignore[arg-type]
    contract.test_same_seed_same_result(method_id, odd_rgb)
    contract.test_a_stop_request_ends_with_a_final_snapshot(method_id, odd_rgb)
    contract.test_a_stop_before_the_start_still_gives_a_result(method_id, odd_rgb)


def test_export_names_of_an_imported_model_hold_no_colon() -> None:
    from types import SimpleNamespace

    from denoise_studio.core.export import export_name

    result = SimpleNamespace(id=3, method_id="imported:drunet")
    assert export_name("photo.jpg", result) == "photo_3_imported-drunet.png"  # type: ignore[arg-type]
    assert export_name(None, result) == "result_3_imported-drunet.png"  # type: ignore[arg-type]


def test_a_hand_edited_card_with_a_wrong_type_is_refused_by_name(tmp_path: Path) -> None:
    import json

    from denoise_studio.core.imported_models import ImportedModelError, read_imported_card

    card = tmp_path / "edited.json"
    card.write_text(json.dumps({"name": "edited", "file": "edited.pth", "architecture": "DnCNN", "parameters": "many"}))
    with pytest.raises(ImportedModelError, match="'parameters' should be a number"):
        read_imported_card(card)
    card.write_text(json.dumps({"name": "edited", "file": "edited.pth", "architecture": "DnCNN", "parameters": 12}))
    assert read_imported_card(card).parameters == 12
