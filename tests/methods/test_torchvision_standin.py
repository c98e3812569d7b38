"""The torchvision stand-in: installed only when torchvision cannot be imported, it offers the three
names spandrel imports and refuses clearly when an architecture really uses one."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from denoise_studio.methods._common import torchvision_standin
from denoise_studio.methods._common.torchvision_standin import TorchvisionMissingError, ensure_torchvision, is_standin


@pytest.fixture
def no_torchvision_loaded(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No torchvision module in ``sys.modules`` during the test; the previous ones come back after."""
    saved = {name: module for name, module in sys.modules.items() if name == "torchvision" or name.startswith("torchvision.")}
    for name in saved:
        del sys.modules[name]
    yield
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]
    sys.modules.update(saved)


def write_package(root: Path, init: str, functional: str = "") -> None:
    package = root / "torchvision"
    (package / "transforms").mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(init))
    (package / "transforms" / "__init__.py").write_text("")
    (package / "transforms" / "functional.py").write_text(textwrap.dedent(functional))


def test_a_torchvision_that_fails_on_import_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_torchvision_loaded: None) -> None:
    # What the CUDA build of torchvision does beside a CPU torch: a RuntimeError, not an ImportError,
    # after its first sub-module has been imported.
    write_package(tmp_path, """
        import torchvision.transforms
        raise RuntimeError("operator torchvision::nms does not exist")
    """)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert ensure_torchvision() is True
    import torchvision
    from torchvision.transforms.functional import InterpolationMode, normalize, rotate

    assert is_standin(torchvision) and is_standin(sys.modules["torchvision.transforms"])
    assert InterpolationMode.BILINEAR.value == "bilinear"
    with pytest.raises(TorchvisionMissingError, match=r"this architecture needs torchvision .*rotate.*nms does not exist"):
        rotate(None, 90.0, InterpolationMode.BILINEAR)
    with pytest.raises(TorchvisionMissingError, match=r"needs torchvision .*normalize"):
        normalize(None, [0.5], [0.5])
    assert ensure_torchvision() is True  # idempotent: the stand-in stays


def test_a_missing_torchvision_is_replaced(monkeypatch: pytest.MonkeyPatch, no_torchvision_loaded: None) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import torchvision → ImportError
    assert ensure_torchvision() is True
    assert is_standin(sys.modules["torchvision"])


def test_a_torchvision_that_imports_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_torchvision_loaded: None) -> None:
    write_package(tmp_path, "REAL = True\n", "def rotate(*args, **kwargs):\n    return 'rotated'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert ensure_torchvision() is False
    import torchvision
    from torchvision.transforms.functional import rotate

    assert torchvision.REAL and not is_standin(torchvision)
    assert rotate() == "rotated"


def test_spandrel_loads_every_architecture_with_the_standin() -> None:
    """In a fresh interpreter where torchvision cannot be imported, spandrel's registry (LaMa and
    RestoreFormer included) loads, and only calling their torchvision functions fails."""
    script = textwrap.dedent(f"""
        import sys
        sys.modules["torchvision"] = None
        sys.path.insert(0, {str(Path(torchvision_standin.__file__).parents[3])!r})
        from denoise_studio.methods._common.torchvision_standin import TorchvisionMissingError, ensure_torchvision
        assert ensure_torchvision()
        import spandrel
        from spandrel.architectures.RestoreFormer import tv_normalize
        ids = {{support.architecture.id for support in spandrel.MAIN_REGISTRY}}
        assert {{"LaMa", "RestoreFormer", "DnCNN", "SCUNet", "NAFNet", "DRUNet", "SwinIR"}} <= ids, ids
        try:
            tv_normalize(None, [0.5], [0.5])
        except TorchvisionMissingError as exc:
            print("refused:", exc)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "refused: this architecture needs torchvision" in done.stdout
