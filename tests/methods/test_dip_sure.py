"""The lockstep SURE curve of Deep Image Prior (issue 19): the same estimate as the one-shot SURE, the stop rule, the bench part."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from denoise_studio.cli import main
from denoise_studio.core.image import save_image, to_numpy
from denoise_studio.core.method import RunContext
from denoise_studio.core.noise import add_noise
from denoise_studio.core.quality import ProbeRuns, mc_sure
from denoise_studio.methods._common.dip_sure import LockstepSure
from denoise_studio.methods.dip import DIPParams, network_for


def _lockstep(clean: np.ndarray, seed: int = 3) -> tuple[np.ndarray, LockstepSure]:
    noisy = add_noise(clean, "gaussian", 25.0, np.random.default_rng(1), clip=False)
    params = DIPParams(preset="fast", iterations=10, threads=1)
    return noisy, LockstepSure(noisy, params, network_for("fast", 3), RunContext(seed=seed, reference=clean), 25.0, preset="fast")


def test_each_step_gives_the_one_shot_sure_of_the_two_averaged_outputs(astronaut: np.ndarray) -> None:
    noisy, lockstep = _lockstep(astronaut[40:72, 190:222])
    for t in range(1, 6):
        snapshot, terms = lockstep.advance(t)
    estimate = lockstep.estimate(terms)
    assert snapshot.step == 5 and "psnr_ref_avg" in snapshot.scalars
    main_out, probe_out = to_numpy(lockstep.main.averaged()), to_numpy(lockstep.probe.averaged())
    assert not np.array_equal(main_out, probe_out)  # the probe moved the second run
    one_shot = mc_sure(noisy, main_out, ProbeRuns(lockstep.epsilon, 3, [probe_out]), 25.0)
    assert estimate is not None and one_shot.psnr is not None
    assert estimate == pytest.approx(one_shot.psnr, abs=1e-3)
    # Both runs are float32 whatever the preset's precision (bfloat16 would swallow the probe).
    assert all(f.amp_dtype is None for f in lockstep.main.fits + lockstep.probe.fits)


def test_a_zero_probe_leaves_the_two_runs_identical(astronaut: np.ndarray) -> None:
    """The two runs share every seed: without a probe they are the same run, step for step."""
    noisy, lockstep = _lockstep(astronaut[40:72, 190:222])
    lockstep.probe.fits[0].target.copy_(lockstep.main.fits[0].target)
    for t in range(1, 4):
        _, terms = lockstep.advance(t)
    assert np.array_equal(to_numpy(lockstep.main.averaged()), to_numpy(lockstep.probe.averaged()))
    assert terms is not None and terms[1] == 0.0


def test_the_bench_part_writes_both_curves_and_their_summary(astronaut: np.ndarray, tmp_path: Path) -> None:
    folder = tmp_path / "crops"
    folder.mkdir()
    save_image(folder / "face.png", astronaut[40:104, 190:254])
    results, table = tmp_path / "sure.json", tmp_path / "sure.md"
    code = main(["bench-dip", "--parts", "sure", "--data", str(folder), "--images", "1", "--crop", "32", "--iterations", "12",
                 "--threads", "1", "--json", str(results), "--markdown", str(table)])
    assert code == 0
    entry = json.loads(results.read_text())["sure"]["face"]
    run, summary = entry["run"], entry["summary"]
    assert len(run["psnr_avg"]) == len(run["sure_psnr"]) == len(run["divergence"]) == 12
    assert summary["peak_psnr"] == pytest.approx(max(run["psnr_avg"]))
    assert "| face |" in table.read_text()


def test_the_trailing_mean_skips_the_steps_without_an_estimate() -> None:
    from denoise_studio.commands.bench_dip.sure import trailing_mean

    values = np.array([1.0, np.nan, 3.0, 5.0, np.nan, np.nan])
    np.testing.assert_allclose(trailing_mean(values, 2), [1.0, 1.0, 3.0, 4.0, 5.0, np.nan])
