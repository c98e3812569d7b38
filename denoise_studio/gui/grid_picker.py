"""Run → Compare in a grid…: which methods to run, each with what it will cost here.

The list holds every method of the registry with its time on the current image or region (the
method's ``estimate_cost``, counting the two extra runs of the PSNR estimate where one is made).
A method that cannot run here is greyed out with the reason (weights missing, the image too small,
not enough memory). "All that fit in N s" ticks the cheapest methods whose times add up to at
most N seconds; a method whose time is unknown, or an iterative one whose cap exceeds the budget,
is then left out, though it can still be ticked by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from denoise_studio.core.cost import format_seconds
from denoise_studio.core.params import Params

_ID_ROLE = Qt.ItemDataRole.UserRole
DEFAULT_BUDGET_SECONDS = 60


@dataclass(frozen=True)
class GridCandidate:
    """A method as the grid would run it here: its parameters and time, or why it cannot run."""

    method_id: str
    title: str
    params: Params | None = None
    #: The run with its PSNR estimate, in seconds (an iterative method's cap); None when unknown.
    seconds: float | None = None
    reason: str | None = None
    iterative: bool = False

    @property
    def runnable(self) -> bool:
        return self.reason is None and self.params is not None

    def describe(self) -> str:
        if self.reason is not None:
            return f"cannot run here: {self.reason}"
        if self.seconds is None:
            return "time unknown"
        if self.seconds < 1:
            return "under a second"
        return f"{'up to' if self.iterative else 'about'} {format_seconds(self.seconds)}"


def fitting_ids(candidates: list[GridCandidate], budget_seconds: float) -> list[str]:
    """The cheapest runnable methods whose times add up to at most ``budget_seconds``, in the
    candidates' order; methods of unknown time are left out."""
    timed = sorted((c for c in candidates if c.runnable and c.seconds is not None), key=lambda c: c.seconds or 0.0)
    chosen: set[str] = set()
    total = 0.0
    for candidate in timed:
        assert candidate.seconds is not None
        if total + candidate.seconds > budget_seconds:
            break
        chosen.add(candidate.method_id)
        total += candidate.seconds
    return [c.method_id for c in candidates if c.method_id in chosen]


class GridPicker(QDialog):
    """The method picker of the comparison grid; :meth:`chosen_ids` once accepted."""

    def __init__(self, parent: QWidget | None, candidates: list[GridCandidate], where: str,
                 ticked: list[str] | None = None, budget_seconds: int = DEFAULT_BUDGET_SECONDS) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare in a grid")
        self.candidates = {c.method_id: c for c in candidates}
        intro = QLabel(f"Run the ticked methods on {where}, one after another, and see the results side by side. "
                       "Cancel ends the whole queue; Stop ends an iterative method early and keeps it.")
        intro.setWordWrap(True)
        self.list = QListWidget()
        for candidate in candidates:
            item = QListWidgetItem(f"{candidate.title} — {candidate.describe()}")
            item.setData(_ID_ROLE, candidate.method_id)
            item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | (Qt.ItemFlag.ItemIsEnabled if candidate.runnable else Qt.ItemFlag.NoItemFlags))
            item.setCheckState(Qt.CheckState.Unchecked)
            item.setToolTip(candidate.reason or "")
            self.list.addItem(item)
        self.budget = QSpinBox()
        self.budget.setRange(1, 24 * 3600)
        self.budget.setSuffix(" s")
        self.budget.setValue(budget_seconds)
        self.fit_button = QPushButton("Tick all that fit")
        self.fit_button.setToolTip("Tick the cheapest methods whose estimated times add up to at most this")
        self.fit_button.clicked.connect(self.tick_all_that_fit)
        budget_row = QHBoxLayout()
        budget_row.addWidget(QLabel("All that fit in"))
        budget_row.addWidget(self.budget)
        budget_row.addWidget(self.fit_button)
        budget_row.addStretch(1)
        self.total_label = QLabel("")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.list, 1)
        layout.addLayout(budget_row)
        layout.addWidget(self.total_label)
        layout.addWidget(self.buttons)
        self.list.itemChanged.connect(self._update_total)
        self.tick(ticked if ticked is not None else fitting_ids(candidates, budget_seconds))
        self.resize(520, 520)

    def chosen_ids(self) -> list[str]:
        """The ticked methods that can run, in the list's order."""
        return [self.list.item(i).data(_ID_ROLE) for i in range(self.list.count())
                if self.list.item(i).checkState() == Qt.CheckState.Checked
                and self.candidates[self.list.item(i).data(_ID_ROLE)].runnable]

    def tick(self, method_ids: list[str]) -> None:
        """Tick exactly these methods (those that can run)."""
        for i in range(self.list.count()):
            item = self.list.item(i)
            wanted = item.data(_ID_ROLE) in method_ids and self.candidates[item.data(_ID_ROLE)].runnable
            item.setCheckState(Qt.CheckState.Checked if wanted else Qt.CheckState.Unchecked)
        self._update_total()

    @Slot()
    def tick_all_that_fit(self) -> None:
        self.tick(fitting_ids(list(self.candidates.values()), self.budget.value()))

    @Slot()
    def _update_total(self) -> None:
        chosen = [self.candidates[i] for i in self.chosen_ids()]
        known = sum(c.seconds or 0.0 for c in chosen)
        unknown = sum(c.seconds is None for c in chosen)
        text = f"{len(chosen)} method{'s' if len(chosen) != 1 else ''}, about {format_seconds(known)} in all"
        self.total_label.setText(text + (f", and {unknown} of unknown time" if unknown else ""))
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(bool(chosen))
        ok.setText(f"Run {len(chosen)}")
