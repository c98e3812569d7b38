"""The session: the input image, the image the methods run on, the clean reference, the results.

No Qt: the window holds one :class:`Session` and listens to it through plain callbacks; tests
drive it directly. The input is a file or a built-in sample; the studio may add synthetic noise
to it (the clean image then becomes the reference), or the user may load a clean reference of a
real noisy image. Every change tells the listeners which part changed: ``"input"`` (a new image,
results of the old one no longer apply) or ``"noise"`` / ``"reference"`` (same image, new
noisy version or new reference).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from denoise_studio.core import metrics
from denoise_studio.core.errors import UserError
from denoise_studio.core.image import SAMPLE_PREFIX, ImageData
from denoise_studio.core.noise import add_noise
from denoise_studio.core.result import Region, Result, crop

Listener = Callable[[str], None]


class Session:
    """What the window works on; see the module docstring."""

    def __init__(self) -> None:
        self.source: str | None = None
        self.input_data: ImageData | None = None
        self.noisy: np.ndarray | None = None
        self.reference: np.ndarray | None = None
        self.reference_source: str | None = None
        #: The synthetic noise added by the studio: ``{"model", "sigma", "seed"}``, or None.
        self.noise: dict[str, Any] | None = None
        #: The results of the session by id, in the order they were made (the results list
        #: of the window shows and edits this very dictionary).
        self.results: dict[int, Result] = {}
        # Each input keeps its own results: a new image starts an empty list, and opening an
        # earlier image again brings its list back (by source).
        self._results_by_source: dict[str, dict[int, Result]] = {}
        self._listeners: list[Listener] = []
        # The estimated σ of a noisy image without a reference, and that image (computed once).
        self._sigma_of: tuple[np.ndarray, float] | None = None

    # -- listening ------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(part)`` after every change (``"input"``, ``"noise"``, ``"reference"``)."""
        self._listeners.append(listener)

    def _changed(self, part: str) -> None:
        for listener in list(self._listeners):
            listener(part)

    # -- changes --------------------------------------------------------------------------

    def open(self, data: ImageData, source: str, noise_sigma: float | None = None) -> None:
        """A new input: no noise, no reference.

        ``noise_sigma``: its estimated σ when the caller has it already (the window estimates it
        with the decoding of a large image, in the background).
        """
        self.source, self.input_data, self.noisy = source, data, data.pixels
        self._sigma_of = (data.pixels, noise_sigma) if noise_sigma is not None else None
        self.reference = self.reference_source = self.noise = None
        self.results = self._results_by_source.setdefault(source, {})
        self._changed("input")

    def restore(self, data: ImageData, noisy: np.ndarray, reference: np.ndarray | None,
                reference_source: str | None, noise: dict[str, Any] | None) -> None:
        """The state of an earlier session, as it was kept on disk."""
        self.source, self.input_data, self.noisy = data.source, data, noisy
        self.reference, self.reference_source, self.noise = reference, reference_source, noise
        self.results = self._results_by_source.setdefault(data.source or "", {})
        self._changed("input")

    def add_noise(self, model: str, sigma: float, seed: int) -> None:
        """Add synthetic noise; the clean image becomes the reference (adding again replaces it).

        Raises :class:`UserError` for a noise the model refuses.
        """
        if self.noisy is None:
            raise UserError("open an image first")
        clean = self.reference if self.noise is not None and self.reference is not None else self.noisy
        try:
            noisy = add_noise(clean, model, float(sigma), int(seed))
        except (ValueError, RuntimeError) as exc:
            raise UserError(str(exc)) from None
        self.reference, self.reference_source, self.noisy = clean, self.source, noisy
        self.noise = {"model": model, "sigma": float(sigma), "seed": int(seed)}
        self._changed("noise")

    def set_reference(self, data: ImageData, source: str) -> None:
        """A clean reference of a real noisy input; it must have the input's size and channels."""
        if self.noisy is None or data.pixels.shape != self.noisy.shape:
            shape = "none" if self.noisy is None else shape_text(self.noisy.shape)
            raise UserError(f"The reference must have the input's size and channels ({shape}); {source} is {shape_text(data.pixels.shape)}.")
        self.noise = None  # a synthetic-noise session becomes "real noisy input + loaded reference"
        self.reference, self.reference_source = data.pixels, source
        self._changed("reference")

    # -- questions ------------------------------------------------------------------------

    def region(self, region: Region | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The noisy image and the reference cut to ``region`` (whole without one)."""
        return crop(self.noisy, region), crop(self.reference, region)

    def baseline(self) -> tuple[float | None, float | None, float | None]:
        """PSNR and SSIM of the noisy image against the reference, or its estimated σ without one."""
        if self.noisy is None:
            return None, None, None
        if self.reference is not None:
            return metrics.psnr(self.noisy, self.reference), metrics.ssim(self.noisy, self.reference), None
        if self._sigma_of is None or self._sigma_of[0] is not self.noisy:
            self._sigma_of = (self.noisy, metrics.estimate_noise_sigma(self.noisy))
        return None, None, self._sigma_of[1]

    def describe(self) -> str:
        """One line for the status bar: the image, the noise added, the reference."""
        if self.input_data is None:
            return ""
        text = self.input_data.describe()
        if self.noise:
            text += f" · {self.noise['model']} noise σ {self.noise['sigma']:g} (seed {self.noise['seed']})"
        if self.reference is not None:
            text += " · reference loaded" if self.noise is None else " · clean reference kept"
        return text

    def display_name(self) -> str:
        """The input's name for a window title."""
        source = self.source or ""
        if source.startswith(SAMPLE_PREFIX):
            return source[len(SAMPLE_PREFIX):] + " (sample)"
        return source.replace("\\", "/").rsplit("/", 1)[-1]

    def protected_paths(self) -> tuple[str, ...]:
        """Files that no export may overwrite: the input and the reference."""
        paths = (s for s in (self.source, self.reference_source) if s and not s.startswith(SAMPLE_PREFIX))
        return tuple(dict.fromkeys(paths))  # with synthetic noise the reference is the input itself


def shape_text(shape: tuple[int, ...]) -> str:
    """``W×H×C`` of an H×W×C array."""
    return f"{shape[1]}×{shape[0]}×{shape[2] if len(shape) > 2 else 1}"
