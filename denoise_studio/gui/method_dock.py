"""The Method dock: the method selector, its parameter panel, the seed, Region only, Run and "Compare in a grid…".

It owns one :class:`~denoise_studio.gui.param_panel.ParamPanel` per method (built on first use,
with the values saved in the settings) and says which method is current; the window starts a run
when Run is pressed (Stop and Cancel are in the status bar, the same for every job).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSettings, Signal, Slot
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QScrollArea, QSpinBox, QStackedWidget, QVBoxLayout, QWidget

from denoise_studio.core.params import ParamError
from denoise_studio.gui.method_selector import MethodChoice, MethodSelector

DEFAULT_METHOD = "nlm"


def weights_choices_for(method: Any) -> Callable[[], list[tuple[str, str, str]]] | None:
    """For a network method: a callable listing its weights for the panel's weights picker."""
    from denoise_studio.methods import is_network, weights_choices

    if not is_network(method):
        return None

    def choices() -> list[tuple[str, str, str]]:
        return weights_choices(method) or []

    return choices


class MethodDock(QWidget):
    """See the module docstring.

    Signals
    -------
    method_changed(str)
        The current method (its id) changed; its panel is shown.
    """

    method_changed = Signal(str)

    def __init__(self, choices: dict[str, MethodChoice], settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.choices = choices
        self.settings = settings
        self.panels: dict[str, Any] = {}
        # The device a first try is fitted to (the window's picker; None: the best one present).
        self.first_try_device: Callable[[], str] | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.selector = MethodSelector(choices)
        self.selector.method_selected.connect(self._on_method_selected)
        layout.addWidget(self.selector, 4)
        self.method_title = QLabel("")
        self.method_title.setStyleSheet("font-size: 15px; font-weight: 600;")
        self.method_description = QLabel("")
        self.method_description.setWordWrap(True)
        self.method_description.setStyleSheet("color: #9aa4b2;")
        layout.addWidget(self.method_title)
        layout.addWidget(self.method_description)
        self._notes = QVBoxLayout()  # advice for a first try (gui/first_use.py)
        layout.addLayout(self._notes)
        self.param_stack = QStackedWidget()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.param_stack)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        layout.addWidget(scroll, 3)
        layout.addLayout(self._seed_row())
        layout.addLayout(self._run_row())
        # Region first, then the whole image: offered after a region run of an iterative method.
        self.whole_button = QPushButton()
        self.whole_button.setObjectName("whole")
        self.whole_button.setVisible(False)
        layout.addWidget(self.whole_button)

    def add_note(self, widget: QWidget) -> None:
        """Show ``widget`` under the method's description (advice that follows the method)."""
        self._notes.addWidget(widget)

    def _seed_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(QLabel("Seed"))
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("Seed of every random choice of the run (reproducible results)")
        row.addWidget(self.seed_spin, 1)
        self.region_check = QCheckBox("Region only")
        self.region_check.setToolTip(
            "Run on the rectangle selected in the viewer (Select region): a quick preview, for\n"
            "example to judge where Deep Image Prior should stop before running the whole image"
        )
        self.region_check.setEnabled(False)
        row.addWidget(self.region_check)
        return row

    def _run_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.run_button = QPushButton("▶  Run")
        self.run_button.setObjectName("run")
        self.run_button.setToolTip("Run the selected method on the input (Ctrl+R); Stop and Cancel are in the status bar")
        row.addWidget(self.run_button)
        self.grid_button = QPushButton("Compare in a grid…")
        self.grid_button.setToolTip("Run several methods one after another and see their results side by side (Ctrl+G)")
        row.addWidget(self.grid_button)
        return row

    # -- the current method ---------------------------------------------------------------

    def current_id(self) -> str | None:
        return self.selector.current_id()

    def select(self, method_id: str) -> bool:
        """Make ``method_id`` current (False if unknown or unavailable)."""
        return self.selector.select(method_id)

    def select_initial(self) -> None:
        """The method (and seed) of the last session, else the default, else the first available."""
        self.seed_spin.setValue(int(self.settings.value("seed", 0) or 0))
        wanted = str(self.settings.value("last_method", DEFAULT_METHOD) or DEFAULT_METHOD)
        if not self.selector.select(wanted):
            for method_id, choice in self.choices.items():
                if choice.available and self.selector.select(method_id):
                    break

    def field_value(self, method_id: str, name: str) -> Any:
        """The value of parameter ``name`` in the panel of ``method_id``; None before the panel exists."""
        panel = self.panels.get(method_id)
        return panel.fields[name].value() if panel is not None and name in panel.fields else None

    def param_panel(self, method_id: str | None = None) -> Any:
        """The parameter panel of ``method_id`` (the current method by default), built if needed."""
        method_id = method_id or self.current_id()
        if method_id is None:
            return None
        if method_id not in self.panels:
            self.select(method_id)
        return self.panels.get(method_id)

    def save_settings(self) -> None:
        """The current method, the seed and every panel's values."""
        current = self.current_id()
        if current:
            self.settings.setValue("last_method", current)
        for method_id, panel in self.panels.items():
            try:
                self.settings.setValue(f"params/{method_id}", json.dumps(panel.values().to_dict()))
            except ParamError:
                continue
        self.settings.setValue("seed", self.seed_spin.value())

    @Slot(str)
    def _on_method_selected(self, method_id: str) -> None:
        choice = self.choices[method_id]
        panel = self.panels.get(method_id)
        if panel is None and choice.method is not None:
            panel = self._build_panel(method_id, choice)
        if panel is not None:
            self.param_stack.setCurrentWidget(panel)
        self.method_title.setText(choice.entry.title)
        description = getattr(choice.method, "description", "") if choice.method is not None else ""
        self.method_description.setText(description or "")
        self.method_description.setVisible(bool(description))
        self.settings.setValue("last_method", method_id)
        self.method_changed.emit(method_id)

    def _build_panel(self, method_id: str, choice: MethodChoice) -> Any:
        from denoise_studio.gui.param_panel import ParamPanel

        assert choice.method is not None
        panel = ParamPanel(choice.method.Params, weights_choices=weights_choices_for(choice.method))
        # A first try (DIP: a stop rule and a cap), not the paper's defaults, unless the user saved values.
        starting = choice.method.starting_params(None, self.first_try_device() if self.first_try_device else None)
        if starting != choice.method.Params():
            panel.set_values(starting)
        saved = self.settings.value(f"params/{method_id}")
        if saved:
            try:
                panel.set_values(choice.method.Params.from_dict(json.loads(str(saved))))
            except (ParamError, ValueError, TypeError):
                pass  # parameters of an older version: keep the defaults
        self.panels[method_id] = panel
        self.param_stack.addWidget(panel)
        return panel

    # -- region ---------------------------------------------------------------------------

    def set_region(self, region: tuple[int, int, int, int] | None) -> None:
        """The viewer's selection changed: "Region only" is offered for a selection."""
        self.region_check.setEnabled(region is not None)
        if region is None:
            self.region_check.setChecked(False)
        else:
            self.region_check.setText(f"Region only ({region[2]}×{region[3]})")

    def region_wanted(self) -> bool:
        return self.region_check.isChecked() and self.region_check.isEnabled()

    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.grid_button.setEnabled(not running)
        self.whole_button.setEnabled(not running)
