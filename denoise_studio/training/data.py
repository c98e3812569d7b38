"""Training data: images decoded once, random patches with flips and rotations, noise on the fly.

Three kinds of source (:class:`DataSource`):

* ``clean``: a folder of clean images; a noise model of ``core/noise.py`` is applied to every
  patch when it is drawn, blind over a σ range if asked. A self-supervised method trained this
  way gets the noisy patches only; the clean ones serve the validation PSNR.
* ``noisy``: noisy images alone (a folder, or one image), for self-supervised methods.
* ``pairs``: a folder with ``noisy/`` and ``clean/`` sub-folders of images with the same names.

Every batch is a pure function of ``(seed, step, rank)``: a resumed run draws exactly the
batches it would have drawn, and distributed processes draw different ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from denoise_studio.core.errors import UserError
from denoise_studio.core.image import READ_FORMATS, ImageError, load_image
from denoise_studio.core.noise import NOISE_MODELS, add_noise

CLEAN, NOISY, PAIRS = "clean", "noisy", "pairs"

# Decoded images, kept for the life of the process (the Train dock may train several times).
_CACHE: dict[tuple[str, int, int], np.ndarray] = {}


class DataError(UserError, ValueError):
    """The training data cannot be used (a message for the user)."""


def image_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The readable image files directly inside ``folder``, sorted by name."""
    path = Path(folder)
    if not path.is_dir():
        raise DataError(f"{folder}: not a folder")
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in READ_FORMATS)
    if not files:
        raise DataError(f"{folder}: no images ({', '.join(READ_FORMATS)})")
    return files


def load_cached(path: Path, channels: int | None = None) -> np.ndarray:
    """An image as H×W×C, decoded once per process.

    8-bit images are kept as uint8 (a quarter of the memory of float32, and lossless);
    deeper ones as float32. ``channels`` converts grey to colour (repeat) or colour to grey
    (the mean), so that a folder of mixed images gives one channel count.
    """
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    image = _CACHE.get(key)
    if image is None:
        try:
            data = load_image(path)
        except ImageError as exc:
            raise DataError(str(exc)) from None
        pixels = data.pixels
        image = np.rint(pixels * 255.0).astype(np.uint8) if data.bit_depth == 8 else pixels.astype(np.float32)
        _CACHE[key] = image
    if channels is not None and image.shape[2] != channels:
        if channels == 3:
            image = np.repeat(image, 3, axis=2)
        else:
            image = image.mean(axis=2, keepdims=True).astype(image.dtype)
    return image


def _as_stored(image: np.ndarray, channels: int) -> np.ndarray:
    """An in-memory float image with the requested channel count."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] != channels:
        image = np.repeat(image, 3, axis=2) if channels == 3 else image.mean(axis=2, keepdims=True)
    return np.ascontiguousarray(image)


def as_float(image: np.ndarray) -> np.ndarray:
    """A cached image (uint8 or float32) as float32 in [0, 1]."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) / np.float32(255.0)
    return image.astype(np.float32, copy=False)


def dihedral(image: np.ndarray, index: int) -> np.ndarray:
    """One of the 8 flips and rotations of an H×W×C array (0 is the identity)."""
    out = np.rot90(image, index % 4, axes=(0, 1))
    return out[:, ::-1] if index >= 4 else out


@dataclass
class DataSource:
    """Where the training images come from and how they are degraded.

    ``sigma`` is a (low, high) range on the 0–255 scale; each patch draws its σ uniformly from it.
    """

    kind: str
    path: Path
    noise: str = "gaussian"
    sigma: tuple[float, float] = (25.0, 25.0)
    channels: int = 3
    validation_images: int | None = None
    name: str = ""
    # Images already in memory (H×W×C float32 in [0, 1]) instead of files under ``path``: the
    # window trains a self-supervised method on the image it shows.
    arrays: list[np.ndarray] | None = None

    def __post_init__(self) -> None:
        if self.kind not in (CLEAN, NOISY, PAIRS):
            raise DataError(f"unknown data kind {self.kind!r}")
        if self.kind == CLEAN and self.noise not in NOISE_MODELS:
            raise DataError(f"unknown noise model {self.noise!r}; models: {', '.join(NOISE_MODELS)}")
        lo, hi = self.sigma
        if not (0 <= lo <= hi):
            raise DataError(f"bad σ range {lo}:{hi}")
        self.path = Path(self.path)
        if self.arrays is not None and self.kind == PAIRS:
            raise DataError("in-memory images serve clean or noisy sources, not pairs")
        if not self.name:
            self.name = self.path.name if self.kind != PAIRS else f"{self.path.name} (pairs)"


@dataclass
class TrainingImages:
    """The decoded training and validation images of a source."""

    source: DataSource
    train_clean: list[np.ndarray] = field(default_factory=list)
    train_noisy: list[np.ndarray] = field(default_factory=list)
    val_clean: list[np.ndarray] = field(default_factory=list)
    val_noisy: list[np.ndarray] = field(default_factory=list)
    train_names: list[str] = field(default_factory=list)
    val_names: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.train_names)


def _split(n: int, wanted: int | None) -> list[int]:
    """Indices held out for validation: evenly spaced, deterministic; none for a single image."""
    if n < 2:
        return []
    k = wanted if wanted is not None else min(8, max(1, n // 20))
    k = max(0, min(k, n - 1))
    if k == 0:
        return []
    return sorted({int(i) for i in np.linspace(0, n - 1, k + 2)[1:-1].round()})


def load_training_images(source: DataSource, min_side: int = 0) -> TrainingImages:
    """Decode the source's images (once per process) and split off the validation images.

    Images smaller than ``min_side`` (the patch size) on either side are skipped.
    """
    out = TrainingImages(source)
    if source.kind == PAIRS:
        noisy_dir, clean_dir = source.path / "noisy", source.path / "clean"
        if not noisy_dir.is_dir() or not clean_dir.is_dir():
            raise DataError(f"{source.path}: a pairs folder needs noisy/ and clean/ sub-folders")
        clean_by_stem = {p.stem: p for p in image_files(clean_dir)}
        noisy_files = [p for p in image_files(noisy_dir) if p.stem in clean_by_stem]
        if not noisy_files:
            raise DataError(f"{source.path}: no file in noisy/ has a clean/ file of the same name")
        pairs = [(n, clean_by_stem[n.stem]) for n in noisy_files]
        val = set(_split(len(pairs), source.validation_images))
        for i, (n, c) in enumerate(pairs):
            noisy, clean = load_cached(n, source.channels), load_cached(c, source.channels)
            if noisy.shape != clean.shape:
                raise DataError(f"{n.name}: noisy {noisy.shape[:2]} and clean {clean.shape[:2]} sizes differ")
            if min(noisy.shape[:2]) < min_side:
                continue
            if i in val:
                out.val_noisy.append(noisy), out.val_clean.append(clean), out.val_names.append(n.name)
            else:
                out.train_noisy.append(noisy), out.train_clean.append(clean), out.train_names.append(n.name)
    else:
        files: list[Path] | list[np.ndarray]
        if source.arrays is not None:
            files = [_as_stored(a, source.channels) for a in source.arrays]
        else:
            files = [source.path] if source.path.is_file() else image_files(source.path)
        val = set(_split(len(files), source.validation_images)) if source.kind == CLEAN else set()
        for i, f in enumerate(files):
            image = f if isinstance(f, np.ndarray) else load_cached(f, source.channels)
            if min(image.shape[:2]) < min_side:
                continue
            target = (out.val_clean, out.val_names) if i in val else ((out.train_clean if source.kind == CLEAN else out.train_noisy), out.train_names)
            target[0].append(image)
            target[1].append(f.name if isinstance(f, Path) else f"image {i + 1}")
    if out.count == 0:
        raise DataError(f"{source.path}: no training image is at least {min_side}×{min_side} pixels")
    return out


class PatchSampler:
    """Random training patches; :meth:`batch` is a pure function of ``(step, rank)``."""

    def __init__(self, images: TrainingImages, patch_size: int, batch_size: int, seed: int, with_clean: bool) -> None:
        self.images = images
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.seed = seed
        self.with_clean = with_clean
        self.source = images.source

    def batch(self, step: int, rank: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
        """Noisy and clean patches N×C×P×P float32 (clean is ``None`` when not to be seen).

        For a ``clean`` source the clean patches exist but are withheld from a self-supervised
        loss (``with_clean=False``); a ``noisy`` source has none.
        """
        rng = np.random.default_rng([self.seed, step, rank, 0x7A])
        p = self.patch_size
        src = self.source
        pool = self.images.train_clean if src.kind != NOISY else self.images.train_noisy
        noisy_out, clean_out = [], []
        for _ in range(self.batch_size):
            i = int(rng.integers(len(pool)))
            h, w = pool[i].shape[:2]
            y, x = int(rng.integers(h - p + 1)), int(rng.integers(w - p + 1))
            t = int(rng.integers(8))
            if src.kind == PAIRS:
                clean = as_float(dihedral(self.images.train_clean[i][y : y + p, x : x + p], t))
                noisy = as_float(dihedral(self.images.train_noisy[i][y : y + p, x : x + p], t))
            elif src.kind == NOISY:
                noisy = as_float(dihedral(pool[i][y : y + p, x : x + p], t))
                clean = None
            else:
                clean = as_float(np.ascontiguousarray(dihedral(pool[i][y : y + p, x : x + p], t)))
                sigma = float(rng.uniform(*src.sigma)) if src.sigma[1] > src.sigma[0] else float(src.sigma[0])
                options = {"clip": False} if src.noise == "gaussian" else {}
                noisy = add_noise(clean, src.noise, sigma, rng, **options)
            noisy_out.append(np.ascontiguousarray(noisy.transpose(2, 0, 1)))
            if clean is not None:
                clean_out.append(np.ascontiguousarray(clean.transpose(2, 0, 1)))
        noisy_arr = np.stack(noisy_out).astype(np.float32)
        clean_arr = np.stack(clean_out).astype(np.float32) if (clean_out and self.with_clean) else None
        return noisy_arr, clean_arr


@dataclass
class ValidationSet:
    """Fixed noisy/clean crops (noise drawn once with a fixed seed) for the validation PSNR."""

    noisy: list[np.ndarray]
    clean: list[np.ndarray]
    sigmas: list[float]

    def __len__(self) -> int:
        return len(self.clean)


def validation_set(images: TrainingImages, crop: int = 160, seed: int = 2017, multiple_of: int = 1) -> ValidationSet | None:
    """Centre crops of the held-out images with noise of fixed seed; ``None`` without clean ones.

    For a σ range the levels low, middle and high are used in turn, so the figure weighs the
    whole range. Crops are trimmed to a multiple of ``multiple_of``.
    """
    if not images.val_clean:
        return None
    src = images.source
    lo, hi = src.sigma
    levels = [lo] if hi == lo else [lo + (hi - lo) * f for f in (0.2, 0.5, 0.9)]
    noisy_list, clean_list, sigmas = [], [], []
    for i, clean_full in enumerate(images.val_clean):
        h, w = clean_full.shape[:2]
        ch = min(crop, h) // multiple_of * multiple_of
        cw = min(crop, w) // multiple_of * multiple_of
        y, x = (h - ch) // 2, (w - cw) // 2
        clean = as_float(clean_full[y : y + ch, x : x + cw])
        if src.kind == PAIRS:
            noisy = as_float(images.val_noisy[i][y : y + ch, x : x + cw])
            sigma = float("nan")
        else:
            sigma = float(levels[i % len(levels)])
            options = {"clip": False} if src.noise == "gaussian" else {}
            noisy = add_noise(clean, src.noise, sigma, np.random.default_rng([seed, i]), **options)
        noisy_list.append(noisy.astype(np.float32))
        clean_list.append(clean)
        sigmas.append(sigma)
    return ValidationSet(noisy_list, clean_list, sigmas)
