"""The wheel's package list matches the source tree, and the shipped resources go into it."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_and_resources_are_mapped() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "denoise_studio").rglob("__init__.py")}
    listed = set(config["packages"])
    assert found | {"denoise_studio.resources"} == listed
    assert config["package-dir"]["denoise_studio.resources"] == "resources"
    patterns = config["package-data"]["denoise_studio.resources"]
    shipped = [p for p in (ROOT / "resources").rglob("*") if p.is_file()]
    assert shipped
    for path in shipped:
        rel = path.relative_to(ROOT / "resources")
        assert any(rel.match(pattern) for pattern in patterns), f"{rel} would be left out of the wheel"
