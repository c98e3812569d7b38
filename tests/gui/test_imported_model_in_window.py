"""An imported model is listed in the window's method tree, under Imported, with its panel."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from spandrel_nets import make_network

from denoise_studio import methods as registry
from denoise_studio.gui.method_selector import MethodSelector, load_choices
from denoise_studio.gui.param_panel import ParamPanel


@pytest.fixture
def imported_id(tmp_path: Path) -> Iterator[str]:
    previous = os.environ.get("DENOISE_STUDIO_DATA_DIR")
    os.environ["DENOISE_STUDIO_DATA_DIR"] = str(tmp_path / "userdata")
    source = tmp_path / "tiny.pth"
    torch.save(make_network("dncnn").state_dict(), source)
    yield registry.import_model(str(source)).id
    if previous is None:
        del os.environ["DENOISE_STUDIO_DATA_DIR"]
    else:
        os.environ["DENOISE_STUDIO_DATA_DIR"] = previous
    registry.refresh_imported()


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
