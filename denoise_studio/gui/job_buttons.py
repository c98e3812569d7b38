"""The one Stop and the one Cancel of every job, in the status bar next to its progress.

Stop ends a job and keeps what it has made so far; Cancel ends it and discards it. Each kind of
job says what the two mean for it (:class:`JobEnds`), and a button that means nothing for it is
disabled: a one-shot method has no partial result to keep, and a folder run cannot take back the
files it has written. The Run menu's actions follow the buttons.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QWidget

STOP_TEXT = "■ Stop — keep"
CANCEL_TEXT = "✕ Cancel — discard"
STOP_KEY = "Ctrl+."
CANCEL_KEY = "Esc"


@dataclass(frozen=True)
class JobEnds:
    """What Stop and Cancel do for one kind of job; ``None`` where the button does not apply."""

    stop: str | None
    cancel: str | None
    #: Why Stop is disabled, shown as its tooltip when ``stop`` is None.
    no_stop: str = ""
    no_cancel: str = ""


ITERATIVE_RUN = JobEnds(
    stop=f"End the run now and keep its result so far ({STOP_KEY})",
    cancel=f"End the run and discard its result ({CANCEL_KEY})",
)
ONE_SHOT_RUN = JobEnds(
    stop=None,
    cancel=f"End the run and discard its result ({CANCEL_KEY})",
    no_stop="This method runs in one step: there is no partial result to keep",
)
ESTIMATE = JobEnds(
    stop=f"Skip the estimate: the result is already in the list ({STOP_KEY})",
    cancel=f"Skip the estimate: the result is already in the list ({CANCEL_KEY})",
)
TRAINING = JobEnds(
    stop=f"End training now and keep the best weights so far, written to your weights folder ({STOP_KEY})",
    cancel=f"End training now and write nothing ({CANCEL_KEY})",
)
FOLDER_RUN = JobEnds(
    stop=f"Finish the current file, then stop; the files written so far stay ({STOP_KEY})",
    cancel=None,
    no_cancel="The files of a folder run are written one by one: Stop keeps those already written",
)


class JobButtons(QWidget):
    """Stop and Cancel side by side; hidden while no job runs.

    Signals
    -------
    stop_clicked(), cancel_clicked()
        The user pressed a button (or its Run-menu action).
    """

    stop_clicked = Signal()
    cancel_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job: JobEnds | None = None
        self.stop_button = QPushButton(STOP_TEXT)
        self.cancel_button = QPushButton(CANCEL_TEXT)
        self.stop_button.clicked.connect(self.stop_clicked)
        self.cancel_button.clicked.connect(self.cancel_clicked)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.stop_button)
        row.addWidget(self.cancel_button)
        self._actions: tuple[QAction, QAction] | None = None
        self.show_job(None)

    def bind_actions(self, stop_action: QAction, cancel_action: QAction) -> None:
        """The Run menu's Stop and Cancel: triggered, they press the buttons; enabled as they are."""
        self._actions = (stop_action, cancel_action)
        stop_action.triggered.connect(self._on_stop_action)
        cancel_action.triggered.connect(self._on_cancel_action)
        self.show_job(self.job)

    def show_job(self, job: JobEnds | None) -> None:
        """Offer what ``job`` allows (``None``: nothing runs, the buttons hide)."""
        self.job = job
        stop_tip = (job.stop or job.no_stop) if job is not None else ""
        cancel_tip = (job.cancel or job.no_cancel) if job is not None else ""
        for button, tip, usable in ((self.stop_button, stop_tip, job is not None and job.stop is not None),
                                    (self.cancel_button, cancel_tip, job is not None and job.cancel is not None)):
            button.setEnabled(usable)
            button.setToolTip(tip)
        if self._actions is not None:
            self._actions[0].setEnabled(self.stop_button.isEnabled())
            self._actions[1].setEnabled(self.cancel_button.isEnabled())
        self.setVisible(job is not None)

    @Slot()
    def _on_stop_action(self) -> None:
        if self.stop_button.isEnabled():
            self.stop_clicked.emit()

    @Slot()
    def _on_cancel_action(self) -> None:
        if self.cancel_button.isEnabled():
            self.cancel_clicked.emit()
