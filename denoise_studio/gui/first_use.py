"""Advice in the Method dock for a first try: weights that fit the noise, a region before a long run.

Two lines under the method's description, kept up to date as the method, its parameters, the
input, its noise and the device change:

* For a trained network, what noise its weights were trained for (the card's ``noise`` and
  ``sigma``, ``core.weights.noise_text``). When the image's noise does not fit (the noise the
  user added, or else the σ estimated from the image, ``core.metrics.estimate_noise_sigma``),
  a banner says why and offers weights that fit: the method's own, else another network's.
* For an iterative method (Deep Image Prior) whose whole-image run is estimated above
  ``LONG_RUN_SECONDS`` on this device (``Method.estimate_cost``), a banner gives the estimate
  and proposes a region first, with the region's estimate.

Nothing here is modal: a banner never blocks the window, a test or a scripted screenshot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton

from denoise_studio.core.errors import UserError
from denoise_studio.core.metrics import estimate_noise_sigma
from denoise_studio.core.weights import WeightsEntry, list_weights, noise_mismatch, noise_text

if TYPE_CHECKING:
    from denoise_studio.gui.main_window import MainWindow

#: Above this estimate (seconds) a whole-image run of an iterative method proposes a region first.
LONG_RUN_SECONDS = 180.0
#: The σ of a photo is estimated on its central SIGMA_CROP² pixels: a bounded few tens of
#: milliseconds on the UI thread whatever the photo's size (the noise is much the same all over).
SIGMA_CROP = 512
AUTO = "auto"


class AdviceBanner(QFrame):
    """A line of advice with at most one action button (hidden when there is nothing to say)."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("advice")
        self.setStyleSheet("#advice { background: #3a3220; border: 1px solid #8a6d2b; border-radius: 4px; }")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.button = QPushButton("")
        layout.addWidget(self.label, 1)
        layout.addWidget(self.button)
        self.action: Any = None
        self.button.clicked.connect(self._on_clicked)
        self.setVisible(False)

    def show_advice(self, text: str, button: str = "", action: Any = None) -> None:
        self.label.setText(text)
        self.button.setText(button)
        self.button.setVisible(bool(button))
        self.action = action
        self.setVisible(True)

    def clear(self) -> None:
        self.action = None
        self.setVisible(False)

    @Slot()
    def _on_clicked(self) -> None:
        if self.action is not None:
            self.action()


class FirstUseAdvice(QObject):
    """Keeps the weights' noise line and the advice banner of the Method dock up to date."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        dock = window.method_dock
        self.noise_label = QLabel("")
        self.noise_label.setObjectName("weights_noise")
        self.noise_label.setWordWrap(True)
        self.noise_label.setVisible(False)
        self.banner = AdviceBanner()
        dock.add_note(self.noise_label)
        dock.add_note(self.banner)
        dock.first_try_device = window.device_picker.device
        # The image the σ was estimated on, kept (not its id(), which a new array may reuse).
        self._sigma_cache: tuple[Any, float] | None = None
        self._panels: list[Any] = []  # the panels whose edits are followed (kept: compared with `is`)
        dock.method_changed.connect(self.refresh)
        dock.region_check.toggled.connect(self.refresh)
        window.device_picker.changed.connect(self.refresh)
        window.session.subscribe(self._on_session_changed)
        self.refresh()

    def _on_session_changed(self, part: str) -> None:
        self.refresh()

    # -- what to say ------------------------------------------------------------------------

    @Slot()
    def refresh(self, *_: Any) -> None:
        """Say what fits the current method, input and device (or nothing)."""
        self.noise_label.setVisible(False)
        self.banner.clear()
        method_id = self.window.method_dock.current_id()
        choice = self.window.choices.get(method_id) if method_id else None
        if choice is None or not choice.available:
            return
        panel = self.window.method_dock.param_panel(method_id)
        if panel is None:
            return
        if not any(panel is followed for followed in self._panels):  # follow its edits (weights, iterations)
            self._panels.append(panel)
            panel.changed.connect(self.refresh)
        try:
            params = panel.values()
        except UserError:
            return
        from denoise_studio.methods import is_network

        if is_network(choice.method):
            self._advise_weights(method_id, params)
        elif choice.method.iterative:
            self._advise_region(choice.method, params)

    def image_noise(self) -> tuple[float | None, str | None]:
        """The input's noise: (σ, model) when the user added it, else (estimated σ, None)."""
        session = self.window.session
        if session.noise:
            return float(session.noise.get("sigma", 0.0)), str(session.noise.get("model"))
        if session.noisy is None:
            return None, None
        if self._sigma_cache is None or self._sigma_cache[0] is not session.noisy:
            self._sigma_cache = (session.noisy, estimate_noise_sigma(_central_crop(session.noisy, SIGMA_CROP)))
        return self._sigma_cache[1], None

    def _advise_weights(self, method_id: str, params: Any) -> None:
        entry = _chosen_weights(method_id, getattr(params, "weights", AUTO))
        if entry is None or not noise_text(entry.card):
            return
        self.noise_label.setText(f"Weights {entry.name}: trained for {noise_text(entry.card)}")
        self.noise_label.setVisible(True)
        sigma, model = self.image_noise()
        why = noise_mismatch(entry.card, sigma, model)
        if why is None:
            return
        same = [e for e in list_weights(method_id) if noise_mismatch(e.card, sigma, model) is None]
        if same:
            self.banner.show_advice(f"⚠ {_sentence(why)}. {same[0].name} fits.", f"Use {same[0].name}",
                                    lambda: self._use_weights(method_id, same[0].name))
            return
        other = self._other_network_that_fits(method_id, sigma, model)
        if other is not None:
            title, other_id, name = other
            self.banner.show_advice(f"⚠ {_sentence(why)}. No weights of this method fit; {title} ({name}) does.",
                                    f"Switch to {title}", lambda: self._use_weights(other_id, name))
        else:
            self.banner.show_advice(f"⚠ {_sentence(why)}. No weights here fit: a classical method (BM3D) may do better.")

    def _other_network_that_fits(self, method_id: str, sigma: float | None, model: str | None) -> tuple[str, str, str] | None:
        from denoise_studio.methods import is_network

        for other_id, choice in self.window.choices.items():
            if other_id == method_id or not choice.available or not is_network(choice.method):
                continue
            for entry in list_weights(other_id):
                if noise_text(entry.card) and noise_mismatch(entry.card, sigma, model) is None:
                    return choice.entry.title, other_id, entry.name
        return None

    def _use_weights(self, method_id: str, name: str) -> None:
        if self.window.method_dock.current_id() != method_id:
            self.window.select_method(method_id)
        panel = self.window.method_dock.param_panel(method_id)
        panel.set_values(panel.values().replace(weights=name))
        self.refresh()

    def _advise_region(self, method: Any, params: Any) -> None:
        noisy = self.window.session.noisy
        if noisy is None or self.window.method_dock.region_wanted():
            return
        device = self.window.device
        whole = method.estimate_cost(noisy.shape, params, device).seconds
        if whole is None or whole <= LONG_RUN_SECONDS:
            return
        side = max(8, min(noisy.shape[:2]) // 4)  # the viewer's first selection
        region = method.estimate_cost((side, side, *noisy.shape[2:]), params, device).seconds
        rule = getattr(params, "stop_rule", "none")
        stop = f", {rule.upper()} may stop it sooner" if rule and rule != "none" else ""
        iterations = getattr(params, "iterations", None)
        length = f" ({iterations} iterations{stop})" if iterations else ""
        region_text = f" (about {duration_text(region)})" if region is not None else ""
        self.banner.show_advice(
            f"The whole image may take up to {duration_text(whole)} on this {device.upper()}{length}. "
            f"Try a {side}×{side} region first{region_text}, then run the whole image at the iteration you like.",
            "Try a region", self._try_region)

    def _try_region(self) -> None:
        self.window.viewer.set_region_selection(True)
        self.window.method_dock.region_check.setChecked(True)


def _chosen_weights(method_id: str, weights: str) -> WeightsEntry | None:
    """The weights entry a ``weights`` parameter names ('auto': the first available)."""
    entries = list_weights(method_id)
    if weights in ("", AUTO):
        return entries[0] if entries else None
    return next((e for e in entries if e.name == weights or str(e.path) == weights), None)


def _central_crop(image: Any, side: int) -> Any:
    h, w = image.shape[:2]
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return image[top : top + side, left : left + side]


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def duration_text(seconds: float | None) -> str:
    """``40 s``, ``22 min``, ``1.5 h``: an estimate, said as roughly as it is known."""
    if seconds is None:
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
