"""An imported model is listed in the window's method tree, under Imported, with its panel."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from spandrel_nets import make_network

from denoise_studio import methods as registry
from denoise_studio.gui.method_selector import MethodSelector, load_choices
from denoise_studio.gui.param_panel import ParamPanel


@pytest.fixture
def imported_id(data_dir: Path, tmp_path: Path) -> str:
    """A tiny DnCNN imported into the private user data folder of ``data_dir``."""
    source = tmp_path / "tiny.pth"
    torch.save(make_network("dncnn").state_dict(), source)
    return registry.import_model(str(source)).id


def test_the_imported_model_is_listed_and_its_panel_gives_the_defaults(qtbot, imported_id: str) -> None:
    choices = load_choices()
    assert choices[imported_id].available and choices[imported_id].entry.family == "Imported"
    selector = MethodSelector(choices)
    qtbot.addWidget(selector)
    titles = [selector.tree.topLevelItem(i).text(0) for i in range(selector.tree.topLevelItemCount())]
    assert titles[-1] == "Imported"
    method = choices[imported_id].method
    panel = ParamPanel(method.Params)
    qtbot.addWidget(panel)
    assert panel.values() == method.Params()
    assert set(panel.fields) == {"strength", "tile_size", "tile_overlap"}


def test_file_import_model_adds_it_to_the_window_and_it_runs(qtbot, imported_id, window, run_method, small_png, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # imported_id: a private user data folder (and a first model) for the test
    window.open_image(str(small_png), wait=True)
    source = tmp_path / "other.safetensors"
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in make_network("nafnet").state_dict().items()}, str(source))
    method_id = window.model_import.import_file(str(source))
    assert method_id == "imported:other"
    assert window.choices[method_id].available and window.method_dock.current_id() == method_id
    run_method(method_id)
    assert [r.method_id for r in window.session.results.values()] == [method_id]

    refused = tmp_path / "broken.pth"
    refused.write_bytes(b"not a model")
    assert window.model_import.import_file(str(refused)) is None
    assert "The model was not imported" in window.last_error and "corrupt" in window.last_error

    # From the dialog the import runs in a worker thread; the window answers meanwhile.
    third = tmp_path / "third.safetensors"
    save_file({k: v.contiguous() for k, v in make_network("nafnet").state_dict().items()}, str(third))
    assert window.model_import.start(str(third))
    qtbot.waitUntil(lambda: "imported:third" in window.choices and window.model_import.worker is None, timeout=30_000)
    assert window.method_dock.current_id() == "imported:third"
