"""Reference-free quality: the PSNR of a result estimated from the noisy input alone.

Monte-Carlo SURE (Ramani, Blu and Unser, "Monte-Carlo SURE: a black-box optimization of
regularization parameters for general denoising algorithms", IEEE TIP 17(9), 2008) estimates
the mean squared error of *any* denoiser ``f`` under additive white Gaussian noise of known σ
without the clean image. Stein's unbiased risk estimate (their Eq. 3, per pixel)::

    SURE = ‖y − f(y)‖² / N − σ² + 2σ² · div f(y) / N

needs the divergence ``div f = Σ ∂f_i/∂y_i``, which a black box does not give. Their Theorem 2
and Eq. 9 estimate it from one more run of the method on the input plus a small probe::

    div f(y) ≈ bᵀ (f(y + ε·b) − f(y)) / ε,     b with i.i.d. zero-mean, unit-variance entries

(Theorem 2 asks only for i.i.d. zero-mean, unit-variance entries; we draw them from a standard
normal). The paper asks for a probe small enough for the first-order expansion and large enough
to stay above the arithmetic precision; the amplitude the SURE implementations that follow it
use (Metzler et al. 2018, "Unsupervised learning with Stein's unbiased risk estimator", and
public MC-SURE code) is ε = max(y) / 1000, which :func:`probe_size` returns. Each probe run uses
the same seed as the run it measures, so a stochastic method is differentiated, not its
randomness. Two probes give two estimates: we report the PSNR of their mean squared error and
half the difference of their PSNRs as the spread.

The sums run over the pixels that were not clipped: an 8-bit photo stores the noise clipped at
0 and 255, where neither the Gaussian model nor Stein's lemma holds, so pixels with y ≤ 0 or
y ≥ 1 are left out of all three terms, and so are those whose result lies within 2σ of black or
white, where the kept values are a truncated sample of the noise (see :func:`kept_pixels`; below
half the image kept there is no estimate). This only applies to an image that lies in [0, 1]
and touches its ends: unclipped synthetic noise has no clipped pixels. An image quantised to 8
bits also carries rounding noise of variance Δ²/12 (Δ = 1/255), added to σ².

For the studio's Poisson–Gaussian noise (σ known) the same probes give the first-order PG-URE of
Luisier, Blu and Unser (2011), :func:`pg_ure`. Where no estimate applies (an iterative method
such as DIP, whose one-shot divergence is not the divergence of the output the user keeps;
speckle, impulse, JPEG or camera noise, which is neither) the answer is a
:class:`QualityEstimate` without a number and with the reason. PSNR uses the project's
convention: peak 1.0 (``core.metrics.psnr``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from denoise_studio.core import metrics
from denoise_studio.core.errors import UserError

#: How many probe runs an estimate makes (two: a mean and a spread).
PROBES = 2

#: The probe's amplitude relative to the largest input value (ε = max(y) / 1000).
PROBE_FRACTION = 1e-3

#: Variance of the rounding of an 8-bit image, (1/255)²/12, in [0, 1] units.
QUANTISATION_VARIANCE = (1.0 / 255.0) ** 2 / 12.0

#: Pixels of a clipped image whose result lies within this many σ of 0 or 1 are left out.
CLIP_MARGIN = 2.0

#: Below this fraction of kept pixels there is no estimate.
MIN_KEPT = 0.5

#: Below this fraction of patches free of clipping, σ is not estimated.
MIN_UNCLIPPED_PATCHES = 0.03
SIGMA_NOT_FOUND = "the noise σ cannot be estimated: almost every patch of the image holds a clipped value; give σ"

#: Noise models (``core.noise``) for which the Gaussian SURE holds.
GAUSSIAN_MODELS = ("gaussian",)

#: Why SURE does not hold for the other synthetic noise models.
#: Poisson–Gaussian noise, whose estimate is PG-URE (:func:`pg_ure`); only with its σ given.
POISSON_GAUSSIAN = "poisson-gaussian"
PG_NEEDS_SIGMA = "Poisson–Gaussian noise: PG-URE needs the noise's parameters, which are not estimated here"

NOT_VALID_FOR_NOISE = {
    "speckle": "speckle is multiplicative noise; Gaussian SURE does not apply",
    "salt-pepper": "impulse noise is not Gaussian; SURE does not apply",
    "jpeg": "JPEG artefacts are not additive white Gaussian noise; SURE does not apply",
    "camera": "camera noise is spatially correlated by demosaicking; SURE for white noise does not apply",
}

#: The reason given for an iterative method.
ITERATIVE_REASON = "iterative method: the one-shot estimate does not apply to its kept output"

#: A black box: the method run on an input (with the same seed and parameters), its output.
Denoiser = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class QualityEstimate:
    """An estimated PSNR (dB, peak 1.0) with its spread over the probes, or the reason there is none.

    ``sigma`` is the noise σ used (0–255) and ``sigma_source`` says whether it was ``"given"``
    or ``"estimated"``; ``kept`` is the fraction of pixels in the sums (the others clipped).
    """

    psnr: float | None = None
    spread: float | None = None
    sigma: float | None = None
    sigma_source: str | None = None
    mse: float | None = None
    kept: float | None = None
    probes: int = 0
    reason: str = ""
    estimator: str = "mc-sure"

    @property
    def valid(self) -> bool:
        """True when there is a number."""
        return self.psnr is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values: ``value`` (``None`` when not valid), ``spread``, ``sigma``, ``reason``..."""
        return {
            "value": self.psnr, "spread": self.spread, "sigma": self.sigma, "sigma_source": self.sigma_source,
            "mse": self.mse, "kept_fraction": self.kept, "probes": self.probes, "estimator": self.estimator,
            "reason": self.reason or None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QualityEstimate:
        """The estimate :meth:`to_dict` wrote (a session manifest, a sidecar)."""
        return cls(data.get("value"), data.get("spread"), data.get("sigma"), data.get("sigma_source"), data.get("mse"),
                   data.get("kept_fraction"), int(data.get("probes") or 0), str(data.get("reason") or ""),
                   str(data.get("estimator") or "mc-sure"))

    def text(self) -> str:
        """``29.41 ± 0.03 dB`` or ``—`` (a label; the reason goes in a tooltip)."""
        if self.psnr is None:
            return "—"
        if math.isinf(self.psnr):
            return "∞ dB"
        return f"{self.psnr:.2f} ± {self.spread or 0.0:.2f} dB"


def not_valid(reason: str) -> QualityEstimate:
    """The answer where no estimate holds."""
    return QualityEstimate(reason=reason)


@dataclass
class ProbeRuns:
    """The method's outputs on ``y + ε·b_k``, one per probe; the directions b_k are drawn again
    from ``seed`` when needed, so they are not kept."""

    epsilon: float
    seed: int
    outputs: list[np.ndarray]

    def directions(self, shape: tuple[int, ...]) -> list[np.ndarray]:
        """The probe directions b_k: i.i.d. standard normal entries."""
        rng = np.random.default_rng([self.seed, 1009])
        return [rng.standard_normal(shape) for _ in self.outputs]


class EstimateSkipped(Exception):
    """The caller asked to stop before the probe runs were done."""


def run_probes(noisy: np.ndarray, denoiser: Denoiser, *, probes: int = PROBES, seed: int = 0,
               should_continue: Callable[[], bool] | None = None) -> ProbeRuns:
    """Run ``denoiser`` (the same method, seed and parameters) on ``probes`` perturbed inputs.

    ``should_continue`` is asked before each run; when it answers False, :class:`EstimateSkipped`
    is raised.
    """
    if probes < 1:
        raise UserError(f"SURE needs at least one probe, not {probes}")
    runs = ProbeRuns(probe_size(noisy), seed, [])
    y = noisy.astype(np.float64)
    for direction in ProbeRuns(runs.epsilon, seed, [y] * probes).directions(y.shape):
        if should_continue is not None and not should_continue():
            raise EstimateSkipped("the run was stopped before its quality was estimated")
        output = denoiser((y + runs.epsilon * direction).astype(noisy.dtype, copy=False))
        if output.shape != noisy.shape:
            raise UserError(f"the method returned {output.shape} for a probe of {noisy.shape}")
        runs.outputs.append(np.asarray(output, dtype=np.float32))
    return runs


def mc_sure(noisy: np.ndarray, denoised: np.ndarray, runs: ProbeRuns, sigma: float,
            sigma_source: str = "given") -> QualityEstimate:
    """Monte-Carlo SURE (Ramani et al. 2008, Eq. 3 with the divergence of Eq. 9) for noise σ (0–255).

    One estimate of the MSE per probe over the kept pixels (:func:`kept_pixels`); the PSNR of
    their mean, and half the difference of the per-probe PSNRs as the spread.
    """
    # An estimated σ already holds the rounding noise; a given one is the σ of the noise added.
    rounding = QUANTISATION_VARIANCE if is_eight_bit(noisy) and sigma_source == "given" else 0.0
    variance = (sigma / 255.0) ** 2 + rounding
    answer = QualityEstimate(sigma=sigma, sigma_source=sigma_source, probes=len(runs.outputs))
    return _unbiased_risk(noisy, denoised, runs, lambda y: variance, sigma, answer)


def pg_ure(noisy: np.ndarray, denoised: np.ndarray, runs: ProbeRuns, sigma: float) -> QualityEstimate:
    """The unbiased risk estimate for Poisson–Gaussian noise, to first order (Luisier, Blu and
    Unser, "Image denoising in mixed Poisson–Gaussian noise", IEEE TIP 20(3), 2011, PG-URE).

    For y = α·Poisson(x/α) + N(0, β) the noise variance is α·x + β, estimated without bias by
    α·y + β. Their PG-URE replaces SURE's σ²·∂f_i/∂y_i by the Poisson difference
    y_i·(f_i(y) − f_i(y − α·e_i)) plus the Gaussian derivative; expanding the difference to first
    order (their Taylor approximation, second-order term dropped) gives::

        PG-URE ≈ ‖f(y) − y‖² / N − Σ (α·y_i + β) / N + 2 Σ (α·y_i + β) · ∂f_i/∂y_i / N

    whose weighted divergence the same probes estimate: E_b[Σ w_i·b_i·(f(y + ε·b) − f(y))_i] / ε
    = Σ w_i·∂f_i/∂y_i. α and β follow ``core.noise.poisson_gaussian`` from its σ (total σ/255 at
    mid-grey, half of the variance from each part); σ must be given.
    """
    from denoise_studio.core.noise import _poisson_gaussian_coefficients

    alpha, beta = _poisson_gaussian_coefficients(sigma)
    rounding = QUANTISATION_VARIANCE if is_eight_bit(noisy) else 0.0
    answer = QualityEstimate(sigma=sigma, sigma_source="given", probes=len(runs.outputs), estimator="pg-ure")
    return _unbiased_risk(noisy, denoised, runs, lambda y: alpha * np.clip(y, 0.0, None) + beta + rounding, sigma, answer)


def _unbiased_risk(noisy: np.ndarray, denoised: np.ndarray, runs: ProbeRuns, variance: Callable[[np.ndarray], Any],
                   sigma: float, answer: QualityEstimate) -> QualityEstimate:
    """Σ over the kept pixels of (f − y)² − w + 2·w·∂f/∂y, w the noise variance of each pixel, per probe."""
    if noisy.shape != denoised.shape:
        raise UserError(f"the result is {denoised.shape} but the input is {noisy.shape}")
    y, f = noisy.astype(np.float64), denoised.astype(np.float64)
    mask = kept_pixels(noisy, denoised, sigma)
    count = int(mask.sum()) if mask is not None else y.size
    answer = replace(answer, kept=count / y.size)
    if count < MIN_KEPT * y.size:
        return replace(answer, reason=f"{100 * (1 - count / y.size):.0f}% of the pixels are clipped or within 2σ of black or "
                                      "white; SURE does not hold there")
    weights = (mask.astype(np.float64) if mask is not None else np.ones_like(y)) * variance(y)
    residual = float(np.sum((f - y) ** 2, where=mask if mask is not None else True)) / count
    noise_energy = float(np.sum(weights)) / count
    errors = []
    for direction, output in zip(runs.directions(y.shape), runs.outputs):
        change = output.astype(np.float64) - f
        if is_eight_bit(noisy) and np.count_nonzero(change) < 0.5 * change.size:
            return replace(answer, reason="the method rounds its 8-bit input, so the probe is lost in the rounding")
        weighted_divergence = float(np.sum(weights * direction * change)) / (runs.epsilon * count)
        errors.append(residual - noise_energy + 2.0 * weighted_divergence)
    mse = float(np.mean(errors))
    if not mse > 0:
        return replace(answer, mse=mse, reason="the estimate is not positive: the noise is not the noise assumed")
    per_probe = [_psnr(e) for e in errors]
    spread = (max(per_probe) - min(per_probe)) / 2.0 if all(math.isfinite(p) for p in per_probe) else math.inf
    return replace(answer, psnr=_psnr(mse), spread=spread, mse=mse)


def estimate_from_probes(noisy: np.ndarray, denoised: np.ndarray, runs: ProbeRuns, sigma: float, noise_model: str | None,
                         sigma_source: str = "given") -> QualityEstimate:
    """PG-URE for the studio's Poisson–Gaussian noise (σ given), else MC-SURE; σ NaN: not estimated."""
    if not math.isfinite(sigma):
        return not_valid(SIGMA_NOT_FOUND)
    if noise_model == POISSON_GAUSSIAN:
        if sigma_source != "given":
            return not_valid(PG_NEEDS_SIGMA)
        return pg_ure(noisy, denoised, runs, sigma)
    return mc_sure(noisy, denoised, runs, sigma, sigma_source)


def _psnr(mse: float) -> float:
    return 10.0 * math.log10(1.0 / mse) if mse > 0 else math.inf


def probe_size(noisy: np.ndarray) -> float:
    """ε = max(y) / 1000, the probe amplitude used after Ramani et al. (2008)."""
    peak = float(np.max(np.abs(noisy))) if noisy.size else 0.0
    return PROBE_FRACTION * (peak if peak > 0 else 1.0)


def kept_pixels(noisy: np.ndarray, denoised: np.ndarray, sigma: float) -> np.ndarray | None:
    """The mask of the pixels in the sums, or ``None`` for all of them.

    An image inside [0, 1] that touches 0 or 1 was clipped there (an 8-bit photo; noise added,
    then clipped). Its clipped values are left out, and so are the pixels whose result lies
    within ``CLIP_MARGIN``·σ of 0 or 1: there the kept values are a truncated sample of the
    noise, which SURE's Gaussian model does not describe (measured on CBSD68, the estimate is
    then several dB too high). An image that leaves [0, 1], or never reaches its ends, was not
    clipped: every pixel counts.
    """
    low, high = float(np.min(noisy)), float(np.max(noisy))
    if low < 0.0 or high > 1.0 or (low > 0.0 and high < 1.0):
        return None
    margin = CLIP_MARGIN * sigma / 255.0
    return (noisy > 0.0) & (noisy < 1.0) & (denoised > margin) & (denoised < 1.0 - margin)


def is_eight_bit(noisy: np.ndarray) -> bool:
    """True when every value is a multiple of 1/255 (an 8-bit image)."""
    scaled = noisy.astype(np.float64) * 255.0
    return bool(np.all(np.abs(scaled - np.rint(scaled)) < 1e-3))


def estimate_sigma(noisy: np.ndarray, patch: int = 7, max_patches: int = 200_000) -> float:
    """The noise σ (0–255) of white Gaussian noise, from the patch covariance.

    Chen, Zhu and Heng, "An efficient statistical method for image noise level estimation" (ICCV
    2015, Algorithm 1): the eigenvalues of the covariance of the image's ``patch``×``patch``
    patches (all channels) that belong to the noise alone are the smallest ones whose mean equals
    their median; σ² is that mean. Used for SURE in place of the wavelet MAD rule of
    ``core.metrics.estimate_noise_sigma`` because SURE is sensitive to σ (an error of δ in σ moves
    the estimated MSE by about 2σδ): on the first 8 CBSD68 images at σ 15 the MAD rule reads 15.0
    to 17.8, this one 15.0 to 15.1 (unclipped noise). Patches holding a clipped value (0 or 1) are
    left out; an image with too few patches falls back on the MAD rule. When fewer than
    ``MIN_UNCLIPPED_PATCHES`` of the patches are free of clipping (8-bit CBSD68 at σ 50: 0–2%;
    at σ 25: 5–53%, still within 2% of σ) the remaining ones are a biased sample: NaN, no estimate.
    """
    pixels = noisy.astype(np.float64)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    height, width, channels = pixels.shape
    if min(height, width) < patch:
        return metrics.estimate_noise_sigma(noisy)
    stride = max(1, int(math.ceil(math.sqrt((height - patch + 1) * (width - patch + 1) / max_patches))))
    windows = np.lib.stride_tricks.sliding_window_view(pixels, (patch, patch, channels))[::stride, ::stride, 0]
    rows = windows.reshape(-1, patch * patch * channels)
    if kept_pixels(noisy, noisy, 0.0) is not None:
        unclipped = np.all((rows > 0.0) & (rows < 1.0), axis=1)
        if unclipped.mean() < MIN_UNCLIPPED_PATCHES:
            return math.nan
        rows = rows[unclipped]
    if rows.shape[0] < 2 * rows.shape[1]:
        return metrics.estimate_noise_sigma(noisy)
    centred = rows - rows.mean(axis=0)
    eigenvalues = np.sort(np.linalg.eigvalsh(centred.T @ centred / rows.shape[0]))
    for count in range(eigenvalues.size, 0, -1):
        noise = eigenvalues[:count]
        if noise.mean() <= np.median(noise):
            return float(math.sqrt(max(float(noise.mean()), 0.0))) * 255.0
    return float(math.sqrt(max(float(eigenvalues[0]), 0.0))) * 255.0


def noise_validity(noise_model: str | None, *, iterative: bool = False, source: str | None = None) -> str | None:
    """Why SURE does not hold for this input and method, or ``None`` when it does.

    ``noise_model`` is the synthetic noise the studio added (a ``core.noise`` name), or ``None``
    for a real photo, assumed to carry white Gaussian noise unless its file is a JPEG, whose
    compression correlates and shapes the noise. ``iterative`` methods (DIP) are out of scope.
    """
    if iterative:
        return ITERATIVE_REASON
    if noise_model is not None:
        if noise_model in GAUSSIAN_MODELS or noise_model == POISSON_GAUSSIAN:
            return None
        return NOT_VALID_FOR_NOISE.get(noise_model, f"{noise_model} noise is not additive white Gaussian noise; SURE does not apply")
    if source is not None and source.lower().rsplit(".", 1)[-1] in ("jpg", "jpeg"):
        return "a JPEG file: compression correlates the noise, so SURE for white Gaussian noise does not apply"
    return None


def estimate_psnr(noisy: np.ndarray, denoised: np.ndarray, denoiser: Denoiser, *, sigma: float | None = None,
                  noise_model: str | None = None, iterative: bool = False, source: str | None = None,
                  probes: int = PROBES, seed: int = 0,
                  should_continue: Callable[[], bool] | None = None) -> QualityEstimate:
    """The estimated PSNR of ``denoised`` = f(``noisy``), or a reason where there is none.

    ``sigma`` is the noise σ (0–255) when known (synthetic noise), else it is estimated from
    ``noisy`` (:func:`estimate_sigma`); for Poisson–Gaussian noise (PG-URE) it must be given.
    The other arguments are those of :func:`noise_validity` and :func:`run_probes`.
    """
    reason = noise_validity(noise_model, iterative=iterative, source=source)
    if reason is not None:
        return not_valid(reason)
    if sigma is not None and (not math.isfinite(sigma) or sigma < 0):
        raise UserError(f"the noise σ must be a non-negative number, not {sigma}")
    if noise_model == POISSON_GAUSSIAN and sigma is None:
        return not_valid(PG_NEEDS_SIGMA)
    source_of_sigma = "given" if sigma is not None else "estimated"
    used = float(sigma) if sigma is not None else estimate_sigma(noisy)
    if not math.isfinite(used):
        return not_valid(SIGMA_NOT_FOUND)
    try:
        runs = run_probes(noisy, denoiser, probes=probes, seed=seed, should_continue=should_continue)
    except EstimateSkipped as skipped:
        return not_valid(str(skipped))
    return estimate_from_probes(noisy, denoised, runs, used, noise_model, source_of_sigma)


def estimate_method_run(method: Any, noisy: np.ndarray, denoised: np.ndarray, params: Any, *, seed: int = 0, device: str = "cpu",
                        sigma: float | None = None, source: str | None = None, origin: tuple[int, int] = (0, 0)) -> QualityEstimate:
    """:func:`estimate_psnr` of a ``core.method.Method`` run: the probes rerun the method with
    the same parameters, seed and origin (a region's top and left, as the run had); an image too
    large for the sums gets the reason, not an error."""
    from denoise_studio.core.method import RunContext, run_to_end

    def denoiser(probed: np.ndarray) -> np.ndarray:
        final = run_to_end(method, probed, params, RunContext(seed=seed, device=device, origin=origin))
        if final.image is None:
            raise UserError(f"{method.id} returned no image for a probe")
        return final.image

    try:
        return estimate_psnr(noisy, denoised, denoiser, sigma=sigma, iterative=bool(method.iterative), source=source, seed=seed)
    except MemoryError:  # the sums hold several float64 copies of the image
        return not_valid("not enough memory for the estimate on an image this large")
