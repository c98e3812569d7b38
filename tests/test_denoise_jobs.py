"""``denoise DIR --jobs N``: worker processes give the same files; N is clamped where it cannot help.

The parallel runs here start two worker processes on whatever cores the test may use (one core
is enough for correctness): ``available_cores`` is patched so the clamp lets two jobs through.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from denoise_studio.cli import main
from denoise_studio.commands.denoise import folder
from denoise_studio.core.batch import WRITTEN, list_inputs, process_folder
from denoise_studio.core.image import save_image
from denoise_studio.core.noise import add_noise
from denoise_studio.core.params import Params
from denoise_studio.methods import create_method


@pytest.fixture
def photos(astronaut: np.ndarray, tmp_path: Path) -> Path:
    """Four small noisy PNGs and a corrupt one."""
    folder_path = tmp_path / "photos"
    folder_path.mkdir()
    for i in range(4):
        save_image(folder_path / f"p{i}.png", add_noise(astronaut[30 * i : 30 * i + 48, 100:148], "gaussian", 20.0, i))
    (folder_path / "zz-broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    return folder_path


@pytest.fixture
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(folder, "available_cores", lambda: 2)


def _images(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.png"))}


@pytest.mark.usefixtures("two_cores")
def test_two_jobs_write_the_same_files_as_one(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["denoise", str(photos), "-o", str(one), "-m", "nlm", "--seed", "3"]) == 1
    capsys.readouterr()
    assert main(["denoise", str(photos), "-o", str(two), "-m", "nlm", "--seed", "3", "--jobs", "2"]) == 1
    err = capsys.readouterr().err
    assert "running" not in err.split("\n")[0]  # not clamped: two jobs ran
    assert "nlm ×2" in err and "4/5" in err  # the one progress line, file i of n
    # failures are listed at the end, after the summary
    assert err.rstrip().splitlines()[-2].startswith("4 written, 0 skipped")
    assert err.rstrip().splitlines()[-1].startswith("  failed: zz-broken.png")
    assert len(_images(one)) == 4 and _images(one) == _images(two)  # bit for bit
    assert (two / "p0.png.json").is_file()


def test_parallel_walk_stops_after_the_files_under_way(photos: Path, tmp_path: Path) -> None:
    stop = threading.Event()
    inputs = [p for p in list_inputs(photos) if "broken" not in p.name]
    params = folder.ImageParams(type(create_method("median")), {})
    outcomes = []
    for outcome in process_folder(create_method("median"), inputs, tmp_path / "out", params, stop=stop, jobs=2):
        outcomes.append(outcome)
        stop.set()  # as the first Ctrl-C does
    # two files were under way when the stop came; none started after it
    assert [o.status for o in outcomes] == [WRITTEN, WRITTEN]
    assert len(_images(tmp_path / "out")) == 2


@dataclass(frozen=True)
class _SlowForTallImages:
    """Median's parameters, after a minute's wait for images taller than 40 px (a file under way)."""

    def __call__(self, pixels: np.ndarray) -> Params:
        if pixels.shape[0] > 40:
            time.sleep(60)
        return create_method("median").Params()


def test_closing_the_walk_ends_the_worker_processes(astronaut: np.ndarray, tmp_path: Path) -> None:
    inputs = []
    for name, side in (("a-quick.png", 32), ("b-slow.png", 48), ("c-slow.png", 48)):
        inputs.append(tmp_path / name)
        save_image(inputs[-1], astronaut[:side, :side])
    walk = process_folder(create_method("median"), inputs, tmp_path / "out", _SlowForTallImages(), jobs=2)
    assert next(walk).input.name == "a-quick.png"
    walk.close()  # as the second Ctrl-C does: the slow file under way is abandoned
    deadline = time.monotonic() + 10
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not multiprocessing.active_children()
    assert not (tmp_path / "out" / "b-slow.png").exists()


def test_jobs_are_clamped_to_the_cores_with_a_reason(monkeypatch: pytest.MonkeyPatch, photos: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(folder, "available_cores", lambda: 1)
    assert main(["denoise", str(photos / "p*.png"), "-o", str(tmp_path / "o"), "-m", "median", "--jobs", "4"]) == 0
    err = capsys.readouterr().err
    assert "--jobs 4: this process may use 1 CPU core" in err and "running 1 at a time" in err
    assert len(_images(tmp_path / "o")) == 4


@pytest.mark.usefixtures("two_cores")
def test_jobs_that_cannot_help_are_refused_or_clamped() -> None:
    bm3d = create_method("bm3d")
    params = bm3d.Params.from_strings({"deterministic": "false"}, base=bm3d.Params())
    jobs, why = folder.usable_jobs(2, bm3d, params, "cpu", 10)
    assert jobs == 1 and "runs on" in why and "threads of its own" in why
    assert folder.usable_jobs(2, bm3d, bm3d.Params(), "cpu", 10) == (2, "")  # one thread each: parallel is fine
    dip = create_method("dip")
    assert folder.usable_jobs(2, dip, dip.Params().replace(threads=2), "cpu", 10)[0] == 1
    assert folder.usable_jobs(2, dip, dip.Params(), "cpu", 1) == (1, "")  # no more jobs than files
    # A class made at run time (as an imported model's) cannot be sent to a worker process.
    made = type("MadeAtRunTime", (type(dip),), {})
    jobs, why = folder.usable_jobs(2, made(), dip.Params(), "cpu", 10)
    assert jobs == 1 and "cannot be sent to other processes" in why


def test_jobs_mistakes_are_one_line(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["denoise", str(photos), "-o", str(tmp_path / "o"), "-m", "median", "--jobs", "0"]) == 2
    assert "--jobs 0: give 1 or more" in capsys.readouterr().err
    assert main(["denoise", str(photos / "p0.png"), "-o", str(tmp_path / "x.png"), "-m", "median", "--jobs", "2"]) == 2
    assert "--jobs goes with a folder" in capsys.readouterr().err
