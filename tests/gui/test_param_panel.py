"""The parameter panel built from Params dataclasses."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

from denoise_studio.core.params import ParamError, Params, param
from denoise_studio.gui.param_panel import ParamPanel
from denoise_studio.methods import REGISTRY


@dataclass(frozen=True)
class DemoParams(Params):
    iterations: int = param(3000, minimum=1, maximum=20_000, step=100, description="number of steps")
    learning_rate: float = param(1e-2, minimum=1e-5, maximum=1e-1, log_scale=True)
    input_noise: float = param(1 / 30, minimum=0.0, maximum=0.2, description="σ_p added to z each step")
    sigma: float | None = param(None, minimum=0.0, maximum=100.0, title="Noise σ")
    upsample: str = param("bilinear", choices=("bilinear", "nearest"))
    average: bool = param(True)
    label: str = param("x")
    secret: float = param(0.5, minimum=0.0, maximum=1.0, advanced=True)


def test_untouched_panel_returns_the_defaults_exactly(qtbot) -> None:
    panel = ParamPanel(DemoParams)
    qtbot.addWidget(panel)
    assert panel.values() == DemoParams()
    assert panel.values().input_noise == 1 / 30  # not the spin box's rounded 0.0333


def test_editors_follow_the_declared_types(qtbot) -> None:
    panel = ParamPanel(DemoParams)
    qtbot.addWidget(panel)
    f = panel.fields
    assert isinstance(f["iterations"].editor, QSpinBox) and f["iterations"].slider is not None
    assert isinstance(f["learning_rate"].editor, QDoubleSpinBox)
    assert f["learning_rate"].editor.decimals() >= 6  # enough to show the minimum 1e-5
    assert isinstance(f["upsample"].editor, QComboBox)
    assert isinstance(f["average"].editor, QCheckBox)
    assert isinstance(f["label"].editor, QLineEdit)
    assert f["sigma"].auto is not None and f["sigma"].auto.isChecked()
    assert f["sigma"].editor.isHidden() and not f["sigma"].auto_label.isHidden()  # no stale number on show
    assert f["iterations"].editor.toolTip() == "number of steps"
    assert panel.advanced_box is not None and not panel.advanced_box.isChecked()
    assert not panel._advanced_body.isVisibleTo(panel)
    panel.advanced_box.click()
    assert panel._advanced_body.isVisibleTo(panel) and f["secret"].isVisibleTo(panel)


def test_edits_reach_values_and_reset_restores(qtbot) -> None:
    panel = ParamPanel(DemoParams)
    qtbot.addWidget(panel)
    f = panel.fields
    f["iterations"].editor.setValue(500)
    assert f["iterations"].slider.value() == f["iterations"]._to_slider(500)
    f["upsample"].editor.setCurrentText("nearest")
    f["average"].editor.setChecked(False)
    f["sigma"].auto.setChecked(False)
    assert not f["sigma"].editor.isHidden() and f["sigma"].auto_label.isHidden()
    f["sigma"].editor.setValue(25.0)
    v = panel.values()
    assert (v.iterations, v.upsample, v.average, v.sigma) == (500, "nearest", False, 25.0)
    f["sigma"].auto.setChecked(True)
    assert panel.values().sigma is None
    panel.reset_button.click()
    assert panel.values() == DemoParams()


def test_log_slider_maps_ends_and_middle(qtbot) -> None:
    panel = ParamPanel(DemoParams)
    qtbot.addWidget(panel)
    field = panel.fields["learning_rate"]
    field.slider.setValue(field.slider.maximum())
    assert panel.values().learning_rate == pytest.approx(1e-1)
    field.slider.setValue(field.slider.maximum() // 2)
    assert panel.values().learning_rate == pytest.approx(1e-3, rel=0.01)  # geometric middle
    field.slider.setValue(0)
    assert panel.values().learning_rate == pytest.approx(1e-5)


def test_set_values_round_trips(qtbot) -> None:
    panel = ParamPanel(DemoParams)
    qtbot.addWidget(panel)
    wanted = DemoParams(iterations=700, learning_rate=3e-4, sigma=12.5, upsample="nearest", average=False, label="y", secret=0.25)
    panel.set_values(wanted)
    assert panel.values() == wanted


def test_out_of_range_is_a_param_error(qtbot) -> None:
    @dataclass(frozen=True)
    class Odd(Params):
        size: int = param(3, minimum=1, maximum=9)

        def __post_init__(self) -> None:
            super().__post_init__()
            if self.size % 2 == 0:
                raise ParamError("size: must be odd")

    panel = ParamPanel(Odd)
    qtbot.addWidget(panel)
    panel.fields["size"].editor.setValue(4)
    with pytest.raises(ParamError):
        panel.values()


@pytest.mark.parametrize("method_id", sorted(REGISTRY))
def test_every_registered_method_round_trips_its_defaults(qtbot, method_id: str) -> None:
    cls = REGISTRY[method_id].load()
    panel = ParamPanel(cls.Params)
    qtbot.addWidget(panel)
    assert panel.values() == cls.Params()
