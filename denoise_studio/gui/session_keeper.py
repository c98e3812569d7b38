"""The session on disk: saved after every change, offered back after a crash or a restart.

:class:`SessionKeeper` writes the window's session (input images and results, each image once)
through :class:`~denoise_studio.core.session_store.SessionStore`, and restores it. The store's
writes happen in the background; the window never waits for the disk.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox

from denoise_studio.core.image import SAMPLE_PREFIX, ImageData
from denoise_studio.core.metadata import file_metadata
from denoise_studio.core.params import ParamError
from denoise_studio.core.result import Result, measure
from denoise_studio.core.session_store import SessionStore

if TYPE_CHECKING:
    from denoise_studio.gui.main_window import MainWindow


class SessionKeeper(QObject):
    """Keeps ``window``'s session in ``store`` (``None``: the session is not kept)."""

    def __init__(self, window: MainWindow, store: SessionStore | None) -> None:
        super().__init__(window)
        self.window = window
        self.store = store
        self._input: dict[str, Any] = {}
        self._images: dict[int, str] = {}  # result id -> its image file in the session
        self._reference: tuple[np.ndarray | None, str | None] = (None, None)  # array, its file
        self._saving = True

    # -- saving ---------------------------------------------------------------------------

    def input_changed(self) -> None:
        """Store the new input images in the session (once each) and save it."""
        store, session = self.store, self.window.session
        if store is None or session.noisy is None:
            return
        record: dict[str, Any] = {
            "source": session.source,
            "reference_source": session.reference_source,
            "noise": session.noise,
            "bit_depth": session.input_data.bit_depth if session.input_data is not None else 8,
            "noisy": store.store_image(store.new_image_name("input"), session.noisy),
            "reference": None,
        }
        if session.reference is not None:
            stored_array, stored_name = self._reference
            if session.reference is not stored_array:  # re-noising keeps the reference: write it once
                stored_name = store.store_image(store.new_image_name("reference"), session.reference)
                self._reference = (session.reference, stored_name)
            record["reference"] = stored_name
        self._input = record
        self.save()

    def result_removed(self, result_id: int) -> None:
        self._images.pop(result_id, None)
        self.save()

    def save(self, clean_exit: bool = False) -> None:
        """Write the session's manifest (in the background); images are stored once each."""
        store = self.store
        if store is None or not self._saving or not self._input:
            return
        results = []
        for result in self.window.results.all():
            name = self._images.get(result.id)
            if name is None:
                name = self._images[result.id] = store.store_image(store.new_image_name("result"), result.image)
            results.append({"image": name, **result.to_record()})
        store.write_manifest({"input": self._input, "results": results, "clean_exit": clean_exit})
        if store.last_error:
            self.window.statusBar().showMessage(store.last_error, 8000)

    def close(self) -> None:
        """Save with the clean-exit mark and let the store finish its writes."""
        if self.store is not None:
            self.save(clean_exit=True)
            self.store.close()
            self.store = None

    # -- restoring ------------------------------------------------------------------------

    def saved(self) -> dict[str, Any] | None:
        """The session kept on disk by an earlier window, if any has something worth restoring."""
        if self.store is None:
            return None
        record = self.store.read_manifest()
        if record is None or not record.get("input"):
            return None
        source = record["input"].get("source") or ""
        if not record.get("results") and source.startswith(SAMPLE_PREFIX) and not record["input"].get("noise"):
            return None  # only a built-in sample was open: nothing of the user's to bring back
        return record

    def offer_restore(self) -> bool:
        """Ask whether to restore the earlier session (after a crash or a restart); True if restored."""
        record = self.saved()
        if record is None:
            return False
        count = len(record.get("results", []))
        source = record["input"].get("source") or "an image"
        saved = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.get("saved", 0)))
        how = "was closed" if record.get("clean_exit") else "did not close normally (a crash?)"
        answer = QMessageBox.question(
            self.window, "Restore the previous session?",
            f"The previous session {how}. It had {Path(source).name} open with {count} result(s), saved {saved}.\n"
            "Restore it? (If not, it is kept aside as session.previous in the data folder.)",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes,
        )
        if answer == QMessageBox.StandardButton.Yes:
            return self.restore()
        assert self.store is not None
        self.store.set_aside()
        return False

    def restore(self) -> bool:
        """Bring back the saved input and results; False (with a message) when there is none."""
        store, record = self.store, self.saved()
        if store is None or record is None:
            return False
        source_info = record["input"]
        try:
            noisy = store.load_image(source_info["noisy"])
            reference = store.load_image(source_info["reference"]) if source_info.get("reference") else None
        except (OSError, ValueError) as exc:
            self.window.show_error(f"The saved session cannot be restored: {exc}", "Restore session")
            return False
        self._saving = False  # the restored session is what is on disk already
        source = source_info.get("source") or "restored image"
        noise = source_info.get("noise")
        original = reference if noise and reference is not None else noisy
        data = ImageData(pixels=original, bit_depth=int(source_info.get("bit_depth") or 8), source=source,
                         metadata=file_metadata(source))  # EXIF, profile, ... for exports, if the file is still there
        self._input = dict(source_info)
        self._reference = (reference, source_info.get("reference"))
        try:
            self.window.restore_input(data, noisy, reference, source_info.get("reference_source"), noise)
        except Exception:
            self._saving = True
            raise
        restored = self.window.session.noisy
        # The results' parameters are their methods' types: they come back once the methods have
        # loaded behind the window (at once when they are), without an event loop of our own.
        self.window.method_loading.when_loaded(lambda: self._finish_restore(store, record, restored))
        return True

    def _finish_restore(self, store: SessionStore, record: dict[str, Any], restored: Any) -> None:
        try:
            if self.window.session.noisy is not restored:  # another image was opened meanwhile
                self.window.statusBar().showMessage("The saved results were not restored: another image was opened", 10000)
                return
            skipped = self._restore_results(store, record.get("results", []))
        finally:
            self._saving = True
        self.save()
        note = f"; {skipped} result(s) could not be read" if skipped else ""
        self.window.statusBar().showMessage(f"Session restored: {self.window.results.count()} result(s){note}", 10000)

    def _restore_results(self, store: SessionStore, items: list[dict[str, Any]]) -> int:
        """Add the kept results to the list; returns how many could not be read."""
        skipped = 0
        for item in items:
            result = self._restored_result(store, item)
            if result is None:
                skipped += 1
                continue
            self.window.results.add(result)
            self._images[result.id] = item["image"]
        self.window.refresh_viewer(fit=True)
        return skipped

    def _restored_result(self, store: SessionStore, item: dict[str, Any]) -> Result | None:
        try:
            image = store.load_image(item["image"])
        except (OSError, ValueError, KeyError):
            return None
        params = None
        choice = self.window.choices.get(item.get("method_id", ""))
        if choice is not None and choice.method is not None and item.get("params") is not None:
            try:
                params = choice.method.Params.from_dict(item["params"])
            except (ParamError, TypeError, ValueError):
                params = None  # a parameter renamed since: the image and metrics still count
        result = Result.from_record(item, image, params)
        noisy, reference = self.window.session.region(result.region)
        measured = measure(image, noisy, reference, with_ssim=False)
        result.heatmap, result.heatmap_kind = measured.heatmap, measured.heatmap_kind
        return result
