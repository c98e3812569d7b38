"""A stand-in for the three torchvision names spandrel imports at start-up, used only without torchvision.

spandrel (the model loader behind imported models) imports ``torchvision`` when it loads its
architecture registry, for two architectures that are not denoisers: LaMa (inpainting: ``rotate``
and ``InterpolationMode``) and RestoreFormer (face restoration: ``normalize``). Where torchvision
cannot be imported (not installed, or a build that does not match the torch in use: the CUDA
torchvision 0.28.0 of the package index fails with "operator torchvision::nms does not exist"
beside the CPU torch 2.13.0), :func:`ensure_torchvision` puts a small module in ``sys.modules``
that offers those names, so every other architecture loads. Calling ``rotate`` or
``normalize`` raises :class:`TorchvisionMissingError`, which says that the architecture needs
torchvision. A torchvision that imports is always the one used.
"""

from __future__ import annotations

import enum
import importlib.machinery
import sys
import types
from typing import NoReturn

from denoise_studio.core.method import MethodError

#: Set on the stand-in's modules so that it can be told from a real torchvision.
STANDIN_FLAG = "__denoise_studio_standin__"


class TorchvisionMissingError(MethodError):
    """A model's architecture called a torchvision function and torchvision is not usable here."""


class InterpolationMode(enum.Enum):
    """The names of ``torchvision.transforms.InterpolationMode`` (used as defaults at import)."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


def _unavailable(function: str, reason: str) -> types.FunctionType:
    def missing(*args: object, **kwargs: object) -> NoReturn:
        raise TorchvisionMissingError(
            f"this architecture needs torchvision (it calls torchvision.transforms.functional.{function}), "
            f"which cannot be imported here ({reason}); install the torchvision build that matches your torch"
        )

    missing.__name__ = missing.__qualname__ = function
    return missing  # type: ignore[return-value]


def is_standin(module: object) -> bool:
    """Whether ``module`` is this stand-in rather than a real torchvision."""
    return bool(getattr(module, STANDIN_FLAG, False))


def _module(name: str, is_package: bool) -> types.ModuleType:
    module = types.ModuleType(name, f"Stand-in for {name}: see {__name__}.")
    module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=is_package)
    if is_package:
        module.__path__ = []
    setattr(module, STANDIN_FLAG, True)
    return module


def install_standin(reason: str) -> types.ModuleType:
    """Put the stand-in ``torchvision`` (with ``transforms.functional``) into ``sys.modules``."""
    root = _module("torchvision", True)
    transforms = _module("torchvision.transforms", True)
    functional = _module("torchvision.transforms.functional", False)
    root.__version__ = "0+standin"  # type: ignore[attr-defined]
    for namespace in (transforms, functional):
        namespace.InterpolationMode = InterpolationMode  # type: ignore[attr-defined]
    functional.rotate = _unavailable("rotate", reason)  # type: ignore[attr-defined]
    functional.normalize = _unavailable("normalize", reason)  # type: ignore[attr-defined]
    transforms.functional = functional  # type: ignore[attr-defined]
    root.transforms = transforms  # type: ignore[attr-defined]
    sys.modules.update({"torchvision": root, "torchvision.transforms": transforms, "torchvision.transforms.functional": functional})
    return root


def ensure_torchvision() -> bool:
    """Make ``import torchvision`` work; ``True`` when that needed the stand-in.

    A real torchvision is imported and kept when it can be. A failed import can leave half of
    its modules behind; they are dropped before the stand-in goes in.
    """
    try:
        import torchvision
    except Exception as exc:  # noqa: BLE001 - a mismatched build raises RuntimeError, not ImportError
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        install_standin(f"{type(exc).__name__}: {first_line}")
        return True
    return is_standin(torchvision)
