"""A parameter panel generated from a method's ``Params`` dataclass (the magicgui way).

Each declared field gets an editor chosen by its spec: a choice → combo box, bool → check box,
int/float with a range → slider beside a spin box (logarithmic slider for ``log_scale``), other
numbers → spin box, free text → line edit. ``float | None`` fields get an "auto" check box
(checked = ``None``). Tooltips come from the descriptions; ``advanced`` fields are folded into a
group the user can open.

Network methods pass ``weights_choices``: a callable returning ``(name, label, tooltip)`` for
every weights file on disk; their ``weights`` parameter then becomes a combo box ("auto" first,
each item's tooltip the model card) that :meth:`ParamPanel.refresh_weights` refills when new
weights appear (the Train dock calls it).

The panel keeps each value exactly as given (a spin box shows a rounded value, but an untouched
field returns its default bit for bit), so ``ParamPanel(P).values() == P()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from denoise_studio.core.params import Params, ParamSpec

#: ``(name, label, tooltip)`` of each weights file a network method can use.
WeightsChoices = Callable[[], list[tuple[str, str, str]]]
AUTO_WEIGHTS = "auto"
AUTO_WEIGHTS_TIP = "The first available weights: shipped ones first, then your own (newest first)"

_SLIDER_STEPS = 1000
_BIG = 1e9


def _decimals(spec: ParamSpec) -> int:
    """Enough decimals to show the minimum, the step and the default."""
    candidates = [spec.minimum, spec.step, spec.default if isinstance(spec.default, float) else None]
    need = 2
    for value in candidates:
        if value is None or value == 0 or not math.isfinite(value):
            continue
        magnitude = abs(float(value))
        if magnitude < 1:
            need = max(need, int(math.ceil(-math.log10(magnitude))) + 2)
    return min(need, 8)


class _Field(QWidget):
    """One parameter's editor; ``value()`` returns the exact stored value."""

    changed = Signal()

    def __init__(self, spec: ParamSpec, optional: bool, parent: QWidget | None = None, weights_choices: WeightsChoices | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.weights_choices = weights_choices
        self.optional = optional
        self._value: Any = spec.default
        self._updating = False
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.editor: QWidget
        self.slider: QSlider | None = None
        self.auto: QCheckBox | None = None
        tip = spec.description or spec.title
        if weights_choices is not None:
            self.editor = QComboBox()
            self.editor.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            self.editor.setMinimumContentsLength(12)
            self._fill_weights(spec.default)
            self.editor.currentIndexChanged.connect(self._from_weights_index)
        elif spec.type is bool:
            self.editor = QCheckBox()
            self.editor.toggled.connect(self._from_check)
        elif spec.choices is not None:
            self.editor = QComboBox()
            self.editor.addItems(list(spec.choices))
            self.editor.currentTextChanged.connect(self._from_text)
        elif spec.type is str:
            self.editor = QLineEdit()
            self.editor.editingFinished.connect(self._from_line)
        else:
            self.editor = self._make_spin()
            if spec.minimum is not None and spec.maximum is not None:
                self.slider = QSlider(Qt.Orientation.Horizontal)
                self.slider.setRange(0, self._slider_steps())
                self.slider.setToolTip(tip)
                self.slider.valueChanged.connect(self._from_slider)
                layout.addWidget(self.slider, 3)
        self.editor.setToolTip(tip)
        layout.addWidget(self.editor, 2)
        if optional:
            # While "auto" is ticked the number editors give way to this label: a number there
            # would look like the value in use, and it is not.
            self.auto_label = QLabel("chosen by the method")
            self.auto_label.setToolTip(tip)
            self.auto_label.setEnabled(False)
            layout.addWidget(self.auto_label, 5)
            self.auto = QCheckBox("auto")
            self.auto.setToolTip("Let the method choose this value (for example from the image)")
            self.auto.toggled.connect(self._from_auto)
            layout.addWidget(self.auto)
        self.set_value(spec.default)

    # -- the weights picker ------------------------------------------------------------------

    def _fill_weights(self, current: str) -> None:
        """(Re)fill the weights combo box from ``weights_choices`` and select ``current``."""
        combo = self.editor
        assert isinstance(combo, QComboBox) and self.weights_choices is not None
        was = self._updating
        self._updating = True
        try:
            combo.clear()
            combo.addItem(AUTO_WEIGHTS, AUTO_WEIGHTS)
            combo.setItemData(0, AUTO_WEIGHTS_TIP, Qt.ItemDataRole.ToolTipRole)
            try:
                entries = self.weights_choices()
            except Exception as exc:  # noqa: BLE001 - an unreadable folder must not break the panel
                entries = []
                combo.setItemData(0, f"{AUTO_WEIGHTS_TIP}\n(listing the weights failed: {exc})", Qt.ItemDataRole.ToolTipRole)
            for name, label, tip in entries:
                combo.addItem(label, name)
                combo.setItemData(combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
            self._select_weights(current)
        finally:
            self._updating = was

    def _select_weights(self, name: str) -> None:
        combo = self.editor
        assert isinstance(combo, QComboBox)
        index = combo.findData(name)
        if index < 0:  # a path or a name not on disk (any more): keep it, as its own item
            combo.addItem(name, name)
            index = combo.count() - 1
        combo.setCurrentIndex(index)
        combo.setToolTip(str(combo.itemData(index, Qt.ItemDataRole.ToolTipRole) or self.spec.description))

    def refresh_weights(self) -> None:
        """Refill the weights list (new weights were trained), keeping the selection."""
        if self.weights_choices is not None:
            self._fill_weights(str(self._value))

    def weights_names(self) -> list[str]:
        """The names the weights combo box offers, "auto" first."""
        combo = self.editor
        if self.weights_choices is None or not isinstance(combo, QComboBox):
            return []
        return [str(combo.itemData(i)) for i in range(combo.count())]

    @Slot(int)
    def _from_weights_index(self, index: int) -> None:
        combo = self.editor
        assert isinstance(combo, QComboBox)
        if index < 0:
            return
        combo.setToolTip(str(combo.itemData(index, Qt.ItemDataRole.ToolTipRole) or self.spec.description))
        if not self._updating:
            self._value = str(combo.itemData(index))
            self.changed.emit()

    # -- construction helpers ---------------------------------------------------------------

    def _make_spin(self) -> QWidget:
        spec = self.spec
        if spec.type is int:
            spin = QSpinBox()
            spin.setRange(int(spec.minimum) if spec.minimum is not None else -2**31 + 1,
                          int(spec.maximum) if spec.maximum is not None else 2**31 - 1)
            spin.setSingleStep(int(spec.step) if spec.step else 1)
            spin.valueChanged.connect(self._from_spin)
        else:
            spin = QDoubleSpinBox()
            spin.setDecimals(_decimals(spec))
            spin.setRange(spec.minimum if spec.minimum is not None else -_BIG,
                          spec.maximum if spec.maximum is not None else _BIG)
            if spec.step:
                spin.setSingleStep(spec.step)
            elif spec.minimum is not None and spec.maximum is not None:
                spin.setSingleStep(10 ** math.floor(math.log10(max((spec.maximum - spec.minimum) / 100, 1e-8))))
            spin.valueChanged.connect(self._from_spin)
        spin.setKeyboardTracking(False)
        spin.setMinimumWidth(80)
        return spin

    def _slider_steps(self) -> int:
        spec = self.spec
        if spec.type is int and not spec.log_scale:
            span = int(spec.maximum) - int(spec.minimum)  # type: ignore[arg-type]
            step = int(spec.step) if spec.step else 1
            return max(1, min(_SLIDER_STEPS, span // max(step, 1)))
        return _SLIDER_STEPS

    def _log(self) -> bool:
        spec = self.spec
        return bool(spec.log_scale and spec.minimum is not None and spec.minimum > 0)

    def _to_slider(self, value: float) -> int:
        lo, hi = float(self.spec.minimum), float(self.spec.maximum)  # type: ignore[arg-type]
        if hi <= lo:
            return 0
        if self._log():
            t = (math.log(value) - math.log(lo)) / (math.log(hi) - math.log(lo))
        else:
            t = (value - lo) / (hi - lo)
        return int(round(min(max(t, 0.0), 1.0) * self._slider_steps()))

    def _from_slider_pos(self, pos: int) -> float:
        lo, hi = float(self.spec.minimum), float(self.spec.maximum)  # type: ignore[arg-type]
        t = pos / self._slider_steps()
        if self._log():
            return math.exp(math.log(lo) + t * (math.log(hi) - math.log(lo)))
        value = lo + t * (hi - lo)
        if self.spec.step and self.spec.type is int:
            value = lo + round((value - lo) / self.spec.step) * self.spec.step
        return value

    def _show_auto(self, auto: bool) -> None:
        self.editor.setVisible(not auto)
        if self.slider is not None:
            self.slider.setVisible(not auto)
        self.auto_label.setVisible(auto)

    # -- value -------------------------------------------------------------------------------

    def value(self) -> Any:
        if self.auto is not None and self.auto.isChecked():
            return None
        return self._value

    def set_value(self, value: Any) -> None:
        """Show ``value`` in the editors and store it exactly."""
        self._updating = True
        try:
            if self.auto is not None:
                self.auto.setChecked(value is None)
                self._show_auto(value is None)
            if value is None:
                # Keep a sensible number in the editor for when "auto" is unticked.
                if self._value is None:
                    self._value = self._fallback()
                value = self._value
            self._value = value
            editor = self.editor
            if isinstance(editor, QCheckBox):
                editor.setChecked(bool(value))
            elif isinstance(editor, QComboBox) and self.weights_choices is not None:
                self._select_weights(str(value))
            elif isinstance(editor, QComboBox):
                editor.setCurrentText(str(value))
            elif isinstance(editor, QLineEdit):
                editor.setText(str(value))
            elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                editor.setValue(value)
                if self.slider is not None:
                    self.slider.setValue(self._to_slider(float(value)))
        finally:
            self._updating = False

    def _fallback(self) -> Any:
        spec = self.spec
        if spec.type is bool:
            return False
        if spec.type is str:
            return spec.choices[0] if spec.choices else ""
        base = spec.minimum if spec.minimum is not None else 0
        if spec.minimum is not None and spec.maximum is not None:
            base = (spec.minimum + spec.maximum) / 2 if not self._log() else math.sqrt(spec.minimum * spec.maximum)
        if spec.type is int:
            if spec.step and spec.minimum is not None:
                return int(spec.minimum + round((base - spec.minimum) / spec.step) * spec.step)
            return int(base)
        return float(base)

    # -- editor → value ----------------------------------------------------------------------

    @Slot(bool)
    def _from_check(self, checked: bool) -> None:
        if not self._updating:
            self._value = bool(checked)
            self.changed.emit()

    @Slot(str)
    def _from_text(self, text: str) -> None:
        if not self._updating:
            self._value = text
            self.changed.emit()

    @Slot()
    def _from_line(self) -> None:
        if not self._updating and isinstance(self.editor, QLineEdit):
            self._value = self.editor.text()
            self.changed.emit()

    @Slot(int)
    @Slot(float)
    def _from_spin(self, value: float) -> None:
        if self._updating:
            return
        self._value = int(value) if self.spec.type is int else float(value)
        if self.slider is not None:
            self._updating = True
            self.slider.setValue(self._to_slider(float(value)))
            self._updating = False
        self.changed.emit()

    @Slot(int)
    def _from_slider(self, pos: int) -> None:
        if self._updating:
            return
        value = self._from_slider_pos(pos)
        value = int(round(value)) if self.spec.type is int else float(value)
        if isinstance(self.editor, QDoubleSpinBox):
            # Round to what the spin box can show, so both editors agree.
            value = round(value, self.editor.decimals())
        self._value = value
        self._updating = True
        self.editor.setValue(value)  # type: ignore[attr-defined]
        self._updating = False
        self.changed.emit()

    @Slot(bool)
    def _from_auto(self, checked: bool) -> None:
        self._show_auto(checked)
        if not self._updating:
            self.changed.emit()


class ParamPanel(QWidget):
    """Editors for every declared parameter of ``params_class``; ``values()`` builds a Params.

    Signals
    -------
    changed()
        Any value changed by the user.
    """

    changed = Signal()

    def __init__(
        self,
        params_class: type[Params],
        parent: QWidget | None = None,
        values: Params | None = None,
        weights_choices: WeightsChoices | None = None,
    ) -> None:
        super().__init__(parent)
        self.params_class = params_class
        self.fields: dict[str, _Field] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        outer.addLayout(form)
        self.advanced_box: QToolButton | None = None
        advanced_form: QFormLayout | None = None
        specs = params_class.specs()
        if not specs:
            note = QLabel("This method has no parameters.")
            note.setEnabled(False)
            outer.addWidget(note)
        for spec in specs:
            field = _Field(spec, params_class._is_optional(spec.name), weights_choices=weights_choices if spec.name == "weights" else None)
            field.changed.connect(self._on_field_changed)
            self.fields[spec.name] = field
            label = QLabel(spec.title)
            label.setWordWrap(True)  # a long title wraps rather than push the editors out of a narrow dock
            label.setToolTip(spec.description or spec.title)
            if spec.advanced:
                if advanced_form is None:
                    # A disclosure button: folded by default, like a details section.
                    self.advanced_box = QToolButton()
                    self.advanced_box.setText("Advanced")
                    self.advanced_box.setCheckable(True)
                    self.advanced_box.setChecked(False)
                    self.advanced_box.setAutoRaise(True)
                    self.advanced_box.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
                    self.advanced_box.setArrowType(Qt.ArrowType.RightArrow)
                    self.advanced_box.toggled.connect(self._on_advanced_toggled)
                    self._advanced_body = QWidget()
                    advanced_form = QFormLayout(self._advanced_body)
                    advanced_form.setContentsMargins(12, 0, 0, 0)
                    advanced_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
                advanced_form.addRow(label, field)
            else:
                form.addRow(label, field)
        if self.advanced_box is not None:
            outer.addWidget(self.advanced_box)
            outer.addWidget(self._advanced_body)
            self._on_advanced_toggled(False)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.setToolTip("Put every parameter back to the method's default")
        self.reset_button.clicked.connect(self.reset)
        self.reset_button.setEnabled(bool(specs))
        buttons.addWidget(self.reset_button)
        outer.addLayout(buttons)
        if values is not None:
            self.set_values(values)

    def values(self) -> Params:
        """The current values as a ``Params`` instance (ParamError if out of range)."""
        return self.params_class.from_dict({name: f.value() for name, f in self.fields.items()})

    def refresh_weights(self) -> None:
        """Refill the weights picker (a network method's new weights appear at once)."""
        field = self.fields.get("weights")
        if field is not None:
            field.refresh_weights()

    def set_values(self, params: Params | dict[str, Any]) -> None:
        """Show these values (a Params instance or a mapping of some names to values)."""
        values = params.to_dict() if isinstance(params, Params) else dict(params)
        for name, value in values.items():
            if name in self.fields:
                self.fields[name].set_value(value)

    @Slot()
    def reset(self) -> None:
        """Every field back to its declared default."""
        for field in self.fields.values():
            field.set_value(field.spec.default)
        self.changed.emit()

    @Slot()
    def _on_field_changed(self) -> None:
        self.changed.emit()

    @Slot(bool)
    def _on_advanced_toggled(self, shown: bool) -> None:
        if self.advanced_box is not None:
            self._advanced_body.setVisible(shown)
            self.advanced_box.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
