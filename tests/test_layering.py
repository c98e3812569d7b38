"""The layering of ARCHITECTURE.md: core and methods never import Qt; import-linter agrees."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_PROBE = textwrap.dedent(
    """
    import importlib, pkgutil, sys
    import denoise_studio.core as core
    for info in pkgutil.iter_modules(core.__path__):
        importlib.import_module(f"denoise_studio.core.{info.name}")
    from denoise_studio.methods import REGISTRY
    for entry in REGISTRY.values():
        entry.load()
    import denoise_studio.cli, denoise_studio.commands.bench, denoise_studio.commands.denoise, denoise_studio.commands.train
    bad = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "pyqtgraph", "shiboken6") or m.startswith("denoise_studio.gui"))
    print("LOADED", len(REGISTRY))
    print("QT", ",".join(bad))
    """
)


def test_core_and_every_method_import_without_qt() -> None:
    """In a fresh interpreter (this one may have Qt loaded by other tests)."""
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) if " " in line else (line, "") for line in done.stdout.splitlines())
    assert int(lines["LOADED"]) >= 7
    assert lines["QT"].strip() == "", f"Qt imported by core/methods: {lines['QT']}"


def test_methods_listing_does_not_import_torch_for_the_registry() -> None:
    """Importing the registry is free: no method module, no torch."""
    code = "import sys, denoise_studio.methods, denoise_studio.core.method; print('torch' in sys.modules, 'bm3d' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


def test_import_linter_contracts_hold() -> None:
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.fail("lint-imports is missing: it is in the test extra (pip install -e '.[test]')")
    done = subprocess.run([exe, "--no-cache"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout, done.stdout[-3000:]
    assert "core, methods and training never import Qt KEPT" in done.stdout
