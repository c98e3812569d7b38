"""The Train dock and the weights picker: a tiny training run writes weights the picker lists;
Stop keeps the best weights; Cancel writes nothing and leaves no thread running."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox

from denoise_studio.core.image import save_image
from denoise_studio.core.weights import read_card, user_weights_dir
from denoise_studio.gui import worker as worker_module
from denoise_studio.gui.param_panel import ParamPanel
from denoise_studio.gui.train_dock import CLEAN_FOLDER, CURRENT_IMAGE, NOISY_FOLDER

# A few steps on tiny patches: the run takes well under a second.
TINY = {"patch_size": 24, "batch_size": 2}


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Trained weights go to a fresh user data folder (nothing user-trained is listed yet)."""
    folder = tmp_path / "user data"
    monkeypatch.setenv("DENOISE_STUDIO_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def tiny_window(window, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    """The window showing a tiny 48×48 noisy image (held in memory, not a file)."""
    window.session.noisy = np.clip(0.5 + 0.1 * rng.standard_normal((48, 48, 3)), 0, 1).astype(np.float32)
    window.show_train_dock()
    return window


def _user_weights() -> list[Path]:
    folder = user_weights_dir()
    return sorted(folder.glob("*.safetensors")) if folder.is_dir() else []


def test_train_dock_lists_network_methods_only(tiny_window) -> None:
    dock = tiny_window.train_dock
    ids = [dock.method_combo.itemData(i) for i in range(dock.method_combo.count())]
    assert {"ap_bsn", "formresnet"} <= set(ids)
    assert not {"nlm", "bm3d", "dip", "slow"} & set(ids)
    assert dock.toggleViewAction() in tiny_window.menuBar().actions()[1].menu().actions()


def test_data_choices_follow_supervision(tiny_window) -> None:
    dock = tiny_window.train_dock
    dock.select_method("ap_bsn")  # self-supervised: the current image is a choice
    kinds = [dock.data_combo.itemData(i) for i in range(dock.data_combo.count())]
    assert kinds[0] == CURRENT_IMAGE and NOISY_FOLDER in kinds
    assert not dock.noise_combo.isVisibleTo(dock)
    dock.select_method("formresnet")  # supervised: clean images + noise only
    assert [dock.data_combo.itemData(i) for i in range(dock.data_combo.count())] == [CLEAN_FOLDER]
    assert dock.noise_combo.isVisibleTo(dock) and dock.folder_edit.isVisibleTo(dock)
    assert not dock.start_training(folder="")  # no folder: refused with a message, no thread
    assert "folder" in dock.status.text().lower() and dock.worker is None


def test_adapt_to_the_current_image_writes_weights_the_picker_lists(qtbot, tiny_window) -> None:
    window = tiny_window
    dock = window.train_dock
    assert window.select_method("ap_bsn")
    panel = window.param_panel("ap_bsn")
    assert isinstance(panel, ParamPanel)
    combo = panel.fields["weights"].editor
    assert isinstance(combo, QComboBox)
    before = panel.fields["weights"].weights_names()
    assert before[0] == "auto"
    progress: list[object] = []
    dock.training_progress.connect(progress.append)
    with qtbot.waitSignal(dock.training_ended, timeout=30_000):
        assert dock.start_training("ap_bsn", config="lite", data=CURRENT_IMAGE, steps=3, minutes=5,
                                   recipe_overrides=TINY, validate_every=2)
        assert dock.worker is not None and not dock.start_button.isEnabled()
    assert dock.worker is None and not worker_module.running_threads()
    written = _user_weights()
    assert len(written) == 1 and written[0].name.startswith("ap_bsn-lite-")
    card = read_card(written[0])
    assert card.method == "ap_bsn" and card.steps == 3 and card.training_data == "current image"
    # Adapting starts from the shipped weights by default (fine-tuning), not from scratch.
    assert card.extra["fine_tuned_from"]["file"] == "ap_bsn-lite.safetensors"
    assert "fine-tuned from ap_bsn-lite" in card.recipe_command
    assert dock.last_result.weights == written[0]
    # The curve dock got the loss of every step.
    steps, losses = window.curve.series()["loss"]
    assert steps == [1, 2, 3] and all(np.isfinite(losses))
    assert progress
    # The weights picker lists the new file at once, with its model card as tooltip.
    names = panel.fields["weights"].weights_names()
    assert names == before + [written[0].stem]
    index = combo.findData(written[0].stem)
    tip = str(combo.itemData(index, Qt.ItemDataRole.ToolTipRole))
    assert "ap_bsn" in tip and str(written[0]) in tip
    # Choosing it makes it the parameter's value.
    combo.setCurrentIndex(index)
    assert panel.values().weights == written[0].stem
    assert window.selector.is_enabled("ap_bsn")


def test_start_from_lists_random_weights_and_every_weights_file(tiny_window) -> None:
    dock = tiny_window.train_dock
    dock.select_method("ap_bsn")
    items = [dock.init_combo.itemData(i) for i in range(dock.init_combo.count())]
    assert items[0] == "" and Path(items[1]).name == "ap_bsn-lite.safetensors"
    assert dock.init_combo.currentIndex() == 1
    assert not dock.start_training(init="no-such-weights") and "No weights named" in dock.status.text()
    assert dock.worker is None


def test_stop_keeps_the_weights_so_far(qtbot, tiny_window) -> None:
    dock = tiny_window.train_dock
    dock.training_progress.connect(lambda _update: dock.stop_training())  # stop after the first report
    with qtbot.waitSignal(dock.training_ended, timeout=30_000):
        assert dock.start_training("ap_bsn", data=CURRENT_IMAGE, steps=500, minutes=5, recipe_overrides=TINY)
    written = _user_weights()
    assert len(written) == 1
    assert dock.last_result.stopped and dock.last_result.steps < 500
    assert "stopped" in dock.status.text()


def test_cancel_writes_nothing_and_leaves_no_thread(qtbot, tiny_window) -> None:
    dock = tiny_window.train_dock
    panel = tiny_window.param_panel("ap_bsn")
    before = panel.fields["weights"].weights_names()
    dock.training_progress.connect(lambda _update: dock.cancel_training())
    with qtbot.waitSignal(dock.training_ended, timeout=30_000):
        # validate_every=1: a checkpoint is written at every step; cancel removes it too.
        assert dock.start_training("ap_bsn", data=CURRENT_IMAGE, steps=500, minutes=5, recipe_overrides=TINY, validate_every=1)
    assert dock.worker is None and not worker_module.running_threads()
    folder = user_weights_dir()
    assert not folder.is_dir() or not any(folder.iterdir())
    assert "cancelled" in dock.status.text()
    assert panel.fields["weights"].weights_names() == before
    assert dock.start_button.isEnabled()


def test_supervised_training_on_a_folder(qtbot, tiny_window, tmp_path: Path, rng: np.random.Generator) -> None:
    folder = tmp_path / "clean"
    folder.mkdir()
    for i in range(3):
        save_image(folder / f"{i}.png", rng.random((40, 40, 3)).astype(np.float32))
    dock = tiny_window.train_dock
    with qtbot.waitSignal(dock.training_ended, timeout=30_000):
        assert dock.start_training("formresnet", data=CLEAN_FOLDER, folder=folder, noise="gaussian", sigma=(10, 30),
                                   steps=2, minutes=5, recipe_overrides=TINY)
    written = _user_weights()
    assert len(written) == 1, dock.status.text()
    card = read_card(written[0])
    assert card.method == "formresnet" and card.sigma == [10.0, 30.0]


def test_a_method_run_waits_for_training(qtbot, tiny_window) -> None:
    dock = tiny_window.train_dock
    dock.training_progress.connect(lambda _update: dock.cancel_training())
    with qtbot.waitSignal(dock.training_ended, timeout=30_000):
        assert dock.start_training("ap_bsn", data=CURRENT_IMAGE, steps=500, minutes=5, recipe_overrides=TINY)
        assert not tiny_window.start_run("nlm")  # refused while training runs


def test_weights_picker_without_provider_is_plain_text() -> None:
    from denoise_studio.methods.ap_bsn import APBSNParams

    panel = ParamPanel(APBSNParams)
    assert not isinstance(panel.fields["weights"].editor, QComboBox)
    assert panel.values() == APBSNParams()


def test_closing_the_window_cancels_training(qtbot, tiny_window) -> None:
    dock = tiny_window.train_dock
    assert dock.start_training("ap_bsn", data=CURRENT_IMAGE, steps=100_000, minutes=60, recipe_overrides=TINY)
    qtbot.waitUntil(lambda: bool(dock.worker is not None and dock.worker.points), timeout=30_000)
    tiny_window.close()
    assert not worker_module.running_threads()
    assert _user_weights() == []


def test_gui_command_trains_before_a_screenshot(qapp, tmp_path: Path, rng: np.random.Generator, data_dir: Path) -> None:
    import argparse

    from denoise_studio.commands.gui import add_arguments, run
    from denoise_studio.core.image import load_image

    folder = tmp_path / "clean"
    folder.mkdir()
    for i in range(2):
        save_image(folder / f"{i}.png", rng.random((48, 48, 3)).astype(np.float32))
    small = tmp_path / "small.png"
    save_image(small, rng.random((48, 48, 3)).astype(np.float32))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "shot.png"
    args = parser.parse_args([str(small), "--screenshot", str(out), "--window-size", "1100x760", "--train", "formresnet",
                              "--train-data", str(folder), "--train-steps", "2"])
    assert run(args) == 0
    assert load_image(out).width == 1100
    assert _user_weights() == []  # a screenshot's weights go to a throw-away folder
    bad = parser.parse_args([str(small), "--screenshot", str(out), "--train", "nlm"])
    from denoise_studio.core.errors import UserError

    with pytest.raises(UserError, match="not a network method"):
        run(bad)


def test_bad_training_data_is_reported_not_raised(qtbot, tiny_window, tmp_path: Path) -> None:
    empty = tmp_path / "no images"
    empty.mkdir()
    dock = tiny_window.train_dock
    with qtbot.waitSignal(dock.training_failed, timeout=30_000) as failed:
        assert dock.start_training("formresnet", data=CLEAN_FOLDER, folder=empty, steps=2, recipe_overrides=TINY)
    qtbot.waitUntil(lambda: dock.worker is None, timeout=10_000)
    message = failed.args[0]
    assert message.startswith("Training formresnet:") and "Traceback" not in message
    assert tiny_window.last_error == message
    assert _user_weights() == [] and dock.start_button.isEnabled()
