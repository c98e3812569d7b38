"""``denoise-studio bench-dip``: the quality and fast parts end to end on a tiny crop, and its pieces."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from denoise_studio.cli import main
from denoise_studio.commands.bench_dip.quality import summarise_curve, time_to_within
from denoise_studio.commands.bench_dip.report import SECTION, replace_section
from denoise_studio.commands.bench_dip.time_to_quality import reference_peaks
from denoise_studio.core.image import save_image
from denoise_studio.methods._common.dip_fit import cpu_has_native_bf16


@pytest.fixture
def crop_folder(astronaut: np.ndarray, tmp_path: Path) -> Path:
    folder = tmp_path / "crops"
    folder.mkdir()
    save_image(folder / "face.png", astronaut[40:104, 190:254])
    return folder


def test_the_quality_and_fast_parts_write_curves_figures_and_a_section(crop_folder: Path, tmp_path: Path, capsys) -> None:
    results, section = tmp_path / "dip.json", tmp_path / "dip.md"
    code = main(["bench-dip", "--parts", "quality", "--data", str(crop_folder), "--images", "1", "--crop", "48",
                 "--iterations", "40", "--presets", "fast", "--threads", "1", "--json", str(results), "--markdown", str(section)])
    assert code == 0
    data = json.loads(results.read_text())
    entry = data["quality"]["face"]
    run = entry["fast"]["run"]
    assert len(run["psnr_avg"]) == 40 and len(run["elapsed"]) == 40
    assert all(b >= a for a, b in zip(run["elapsed"], run["elapsed"][1:]))  # wall time only grows
    summary = entry["fast"]["summary"]
    assert summary["peak_psnr"] == pytest.approx(max(run["psnr_avg"]))
    assert 1 <= summary["peak_iteration"] <= 40
    # After 40 iterations DIP is still far below BM3D and has not reached the noisy input's PSNR.
    assert entry["bm3d"]["psnr"] > summary["peak_psnr"] and entry["noisy_psnr"] > 15
    text = section.read_text()
    assert text.startswith(SECTION) and "face" in text and f"{entry['bm3d']['psnr']:.2f}" in text
    assert data["meta"]["crop"] == 48 and data["meta"]["threads"] == 1


def test_an_unknown_part_is_a_user_error(capsys) -> None:
    assert main(["bench-dip", "--parts", "speed,colour"]) == 2
    assert "unknown part(s): colour" in capsys.readouterr().err


def test_summary_reads_the_rules_suggestions_off_the_averaged_curve() -> None:
    curve = [20.0, 24.0, 27.0, 28.5, 28.0, 27.0]
    run = {"psnr_avg": curve, "psnr_raw": [c - 1 for c in curve], "elapsed": [0.5 * (i + 1) for i in range(6)],
           "suggested_wmv": 3, "suggested_emv": None, "events": {"es-emv": 6}}
    summary = summarise_curve(run, patience=1)
    assert summary["peak_psnr"] == 28.5 and summary["peak_iteration"] == 4 and summary["time_to_peak_s"] == 2.0
    assert summary["wmv_psnr"] == 27.0 and summary["wmv_gap"] == pytest.approx(1.5)
    # ES-EMV stopped at 6 with patience 1: its suggestion was iteration 5.
    assert summary["emv_iteration"] == 5 and summary["emv_gap"] == pytest.approx(0.5)
    assert time_to_within(run, 28.0) == (2.0, 4)
    assert time_to_within(run, 30.0) == (None, None)
    assert math.isnan(summarise_curve({**run, "suggested_wmv": None, "events": {}})["wmv_psnr"])


def test_the_section_replaces_only_its_own_part_of_the_file(tmp_path: Path) -> None:
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# Benchmarks\n\n## Before\nkept\n\n" + SECTION + "\nold figures\n\n## After\nalso kept\n", encoding="utf-8")
    replace_section(doc, SECTION + "\nnew figures\n")
    text = doc.read_text(encoding="utf-8")
    assert "old figures" not in text and "new figures" in text
    assert "## Before\nkept" in text and "## After\nalso kept" in text


def test_the_time_to_quality_part_times_a_reference_and_a_candidate(crop_folder: Path, tmp_path: Path) -> None:
    results, table = tmp_path / "ttq.json", tmp_path / "ttq.md"
    code = main(["bench-dip", "--parts", "time-to-quality", "--data", str(crop_folder), "--ttq-crops", "32:1",
                 "--ttq-reference-iterations", "30", "--ttq-candidates", "fast:rule_every=4:patience=5:iterations=25",
                 "--threads", "1", "--json", str(results), "--markdown", str(table)])
    assert code == 0
    entry = json.loads(results.read_text())["time_to_quality"]["face@32"]
    reference = entry["reference"]
    assert len(reference["run"]["psnr_avg"]) == 30 and reference["peak"] == pytest.approx(max(reference["run"]["psnr_avg"]))
    assert reference["run"]["params"]["tile"] == 0  # the whole-image fit, while the first try tiles large images
    candidate = entry["fast:rule_every=4:patience=5:iterations=25"]
    run, summary = candidate["run"], candidate["summary"]
    assert run["params"]["rule_every"] == 4 and run["params"]["stop_rule"] == "es-emv"  # the window's first try, changed
    assert all(b >= a for a, b in zip(run["cpu"], run["cpu"][1:]))
    assert summary["stop_iteration"] == len(run["psnr_avg"]) <= 25
    assert summary["stop_gap"] == pytest.approx(reference["peak"] - summary["kept_psnr"])
    assert summary["announced_s"] > 0
    assert "face@32" in table.read_text()
    assert reference_peaks(str(results)) == {"face@32": reference["peak"]}


def test_a_recorded_peak_replaces_the_reference_run_and_tiles_are_a_candidate(crop_folder: Path, tmp_path: Path) -> None:
    results, table = tmp_path / "ttq.json", tmp_path / "ttq.md"
    code = main(["bench-dip", "--parts", "time-to-quality", "--data", str(crop_folder), "--ttq-crops", "64:1",
                 "--ttq-peaks", "face@64=99.5", "--ttq-candidates", "fast:tile=24:stop_rule=none:iterations=6",
                 "--threads", "1", "--json", str(results), "--markdown", str(table)])
    assert code == 0
    entry = json.loads(results.read_text())["time_to_quality"]["face@64"]
    assert entry["reference"] == {"peak": 99.5, "peak_iteration": None}  # nothing was run for it
    candidate = entry["fast:tile=24:stop_rule=none:iterations=6"]
    assert candidate["run"]["tiles"] == 9 and candidate["run"]["params"]["tile"] == 24 and len(candidate["run"]["psnr_avg"]) == 6
    assert candidate["summary"]["within_iteration"] is None  # a 99.5 dB peak is never approached
    assert "| face@64 | fast:tile=24:stop_rule=none:iterations=6 | 99.50 (recorded) | never |" in table.read_text()
    assert main(["bench-dip", "--parts", "time-to-quality", "--data", str(crop_folder), "--ttq-crops", "64:1",
                 "--ttq-peaks", "face@64=high", "--json", str(tmp_path / "x.json")]) == 2


def test_a_candidate_naming_an_unknown_parameter_is_refused(crop_folder: Path, tmp_path: Path, capsys) -> None:
    code = main(["bench-dip", "--parts", "time-to-quality", "--data", str(crop_folder), "--ttq-crops", "32:1",
                 "--ttq-reference-iterations", "3", "--ttq-candidates", "fast:speed=11", "--json", str(tmp_path / "r.json")])
    assert code != 0 and "no parameter 'speed'" in capsys.readouterr().err


def test_the_patience_sweep_reads_each_stop_off_the_variance_curve() -> None:
    from denoise_studio.commands.bench_dip.time_to_quality import patience_sweep

    nan = math.nan
    run = {"variance_emv": [nan, nan, nan, 5, 4, 3, 2, 3, 4, 5, 6, 7, 8], "cpu": [float(i) for i in range(13)],
           "psnr_avg": [10, 11, 12, 13, 14, 15, 16, 17, 16.5, 16, 15, 14, 13]}
    sweep = patience_sweep(run, 17.0, (2, 5, 50))
    assert sweep["2"]["suggested"] == 7 and sweep["2"]["stop_iteration"] == 9 and sweep["2"]["gap_average"] == pytest.approx(0.5)
    assert sweep["5"]["stop_iteration"] == 12 and sweep["5"]["gap_suggested"] == pytest.approx(1.0) and sweep["5"]["cpu_s"] == 11.0
    assert "50" not in sweep  # the run ended before that patience ran out


def test_a_quality_preset_can_change_a_parameter(crop_folder: Path, tmp_path: Path) -> None:
    """``fast:emv_alpha=0.1`` (the ES-EMV α sweep of BENCHMARKS): the same curve, another rule."""
    results = tmp_path / "alpha.json"
    code = main(["bench-dip", "--parts", "quality", "--data", str(crop_folder), "--images", "1", "--crop", "32",
                 "--iterations", "130", "--presets", "fast,fast:emv_alpha=0.5", "--threads", "1", "--json", str(results)])
    assert code == 0
    entry = json.loads(results.read_text())["quality"]["face"]
    plain, changed = entry["fast"]["run"], entry["fast:emv_alpha=0.5"]["run"]
    assert plain["psnr_avg"] == pytest.approx(changed["psnr_avg"])  # the rule does not touch the optimisation
    assert plain["variance_emv"][-1] != pytest.approx(changed["variance_emv"][-1])


def test_the_precision_part_times_both_precisions(crop_folder: Path, tmp_path: Path) -> None:
    results = tmp_path / "precision.json"
    assert main(["bench-dip", "--parts", "precision", "--data", str(crop_folder), "--crop", "32", "--threads", "1",
                 "--precision-repeats", "2", "--json", str(results)]) == 0
    timing = json.loads(results.read_text())["precision"]
    assert timing["size"] == 32 and timing["repeats"] == 2 and set(timing["cpu_s_per_step"]) == {"bfloat16", "float32"}
    # no bound on the figures: a CPU without bfloat16 instructions emulates it tens of times slower
    assert all(0 < s < math.inf for s in timing["cpu_s_per_step"].values())
    assert timing["native_bf16"] == cpu_has_native_bf16()


def test_a_gap_that_rounds_to_nothing_is_written_without_a_sign() -> None:
    from denoise_studio.commands.bench_dip.time_to_quality import ttq_markdown

    summary = {"within_iteration": 5, "within_wall_s": 1.0, "within_cpu_s": 1.0, "stop_iteration": 9, "stop_wall_s": 2.0,
               "kept_psnr": 27.001, "stop_gap": -0.001, "announced_s_per_step": 0.1, "cpu_s_per_step": 0.1}
    results = {"time_to_quality": {"a@256": {"reference": {"peak": 27.0, "peak_iteration": 9, "summary": summary,
                                                           "patience": {"300": {"suggested": 4, "stop_iteration": 9, "cpu_s": 2.0,
                                                                                "gap_average": -0.004, "gap_suggested": 0.5}}}}}}
    table = ttq_markdown(results)
    assert "-0.00" not in table and "27.00 (0.00)" in table and "| 0.00 | 0.50 |" in table
