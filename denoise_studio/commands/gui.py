"""``denoise-studio gui``: open the Studio window.

    denoise-studio gui [IMAGE] [--screenshot OUT.png] [--method ID] [--noise-sigma S]
                       [--noise MODEL] [--seed N] [--param key=value ...] [--mode MODE] [--no-run]
                       [--grid ID,ID,... | --grid all [--grid-budget S]]

With ``--screenshot`` the window opens (offscreen when there is no display), waits for the
methods to load, runs the method to completion (not with ``--no-run``), renders the whole window
to OUT.png and exits: the README's screenshots are made so. ``--grid`` runs several methods one after
another instead and shows them in the comparison grid (``gui/grid_runs.py``). Without it the window shows at once
and the methods load behind it (``gui/loading.py``); ``--method`` and ``--param`` apply then.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from denoise_studio.commands.common import parse_key_values
from denoise_studio.core.errors import UserError

SCREENSHOT_SIZE = (1600, 1000)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", nargs="?", default=None, help="image file or sample:NAME (default: a built-in sample)")
    parser.add_argument("--screenshot", metavar="OUT.png", help="run, render the window to OUT.png and exit")
    parser.add_argument("--method", "-m", metavar="ID", help="method to select (and run, with --screenshot)")
    parser.add_argument("--noise-sigma", type=float, metavar="S", help="add synthetic noise of this σ (0–255) first")
    parser.add_argument("--noise", default="gaussian", metavar="MODEL", help="noise model for --noise-sigma (default gaussian)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise and of the run")
    parser.add_argument("--param", "-p", action="append", default=[], metavar="KEY=VALUE", help="a method parameter (repeatable)")
    parser.add_argument("--grid", metavar="ID,ID,...", help="run these methods one after another and show the comparison grid "
                        "(with --screenshot: of it); 'all': all that fit in --grid-budget seconds")
    parser.add_argument("--grid-budget", type=float, default=60.0, metavar="S", help="seconds that --grid all may take (default 60)")
    parser.add_argument("--no-run", action="store_true", help="with --screenshot: select the method but do not run it (the window as a first try shows it)")
    parser.add_argument("--mode", choices=("split", "side", "blink", "difference"), help="compare mode of the viewer")
    parser.add_argument("--view", metavar="X,Y,W,H", help="show this image rectangle (pixels) instead of fitting the image")
    parser.add_argument("--window-size", "--size", dest="size", metavar="WxH", default=f"{SCREENSHOT_SIZE[0]}x{SCREENSHOT_SIZE[1]}",
                        help="window size of a screenshot (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=600.0, help="longest wait for the run of a screenshot, seconds")
    parser.add_argument("--train", metavar="ID", help="show the Train dock with this network method (with --screenshot: train first)")
    parser.add_argument("--train-data", metavar="DIR", help="folder of clean images for --train (default: self-supervised methods adapt to the image)")
    parser.add_argument("--no-session", action="store_true", help="neither offer to restore nor keep the session on disk")
    parser.add_argument("--train-steps", type=int, default=40, metavar="N", help="steps of a --screenshot training run (default 40)")


def run(args: argparse.Namespace) -> int:
    """Open the window (and, with ``--screenshot``, render it to a file and exit)."""
    screenshot = args.screenshot
    pairs = parse_key_values(args.param, "--param")
    if screenshot and Path(screenshot).suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp"):
        raise UserError("--screenshot must name a .png, .jpg or .bmp file")
    from denoise_studio.methods import get_entry

    if args.grid and args.method:
        raise UserError("--grid and --method each choose what runs: give one of them")
    grid_ids = [] if args.grid in (None, "all") else [i.strip() for i in args.grid.split(",") if i.strip()]
    for method_id in filter(None, (args.method, args.train, *grid_ids)):
        get_entry(method_id)  # UnknownMethodError lists the known ids, before any window opens
    from denoise_studio.gui.application import create_application, freeze_startup_objects

    app = create_application(offscreen=bool(screenshot))
    from PySide6.QtCore import QSettings

    from denoise_studio.gui.main_window import MainWindow

    settings = None
    tmp = None
    if screenshot:
        # A screenshot must look the same on every machine: default layout, no user settings.
        tmp = tempfile.TemporaryDirectory(prefix="denoise-studio-shot-")
        settings = QSettings(str(Path(tmp.name) / "settings.ini"), QSettings.Format.IniFormat)
    # The session is kept on disk for the interactive window only (a screenshot leaves no trace).
    from denoise_studio.core.weights import user_data_dir

    session_dir = None if screenshot or args.no_session else user_data_dir() / "session"
    window = MainWindow(settings=settings, initial=None, restore_layout=not screenshot, session_dir=session_dir)
    window.confirm_costly_runs = not screenshot
    try:
        restored = False
        if session_dir is not None and args.image is None:
            window.show()
            restored = window.session_keeper.offer_restore()
        elif session_dir is not None and window.session_keeper.saved() is not None:
            window.session_store.set_aside()  # an image named on the command line starts afresh
        _prepare_input(window, args, open_image=not restored)
        if not screenshot:
            _prepare_methods_when_loaded(window, args, pairs)
            return int(app.exec())  # the methods' loading thread freezes what start-up made (gc.freeze)
        freeze_startup_objects()
        if not window.method_loading.wait(args.timeout):
            raise UserError(f"the methods did not load within {args.timeout:g} s")
        _prepare_methods(window, args, pairs)
        _screenshot(app, window, args)
        return 0
    finally:
        if window.isVisible() or screenshot:
            window.close()
        if tmp is not None:
            tmp.cleanup()


def _prepare_input(window, args: argparse.Namespace, open_image: bool = True) -> None:  # type: ignore[no-untyped-def]
    """Size, image, noise and compare mode from the command line (no method needed)."""
    if args.screenshot:
        try:
            width, height = (int(v) for v in args.size.lower().split("x"))
        except ValueError:
            raise UserError(f"--window-size expects WxH, got {args.size!r}") from None
        window.resize(width, height)
    window.show()
    source = args.image or "sample:astronaut"
    # A large image opens in the background, unless what follows needs it: a screenshot, noise.
    wait = bool(args.screenshot) or args.noise_sigma is not None
    if open_image and not wait and args.image is None:
        window.image_loading.start(source)  # the default sample too: the window paints first
    elif open_image and not window.open_image(source, wait=wait):
        if args.screenshot:
            raise UserError(window.last_error or f"cannot open {source}")
        window.open_image("sample:astronaut")  # the error box stays up over a usable window
    if args.noise_sigma is not None:
        window.add_noise(args.noise, args.noise_sigma, args.seed)
    if args.mode:
        window.viewer.set_mode(args.mode)


def _prepare_methods_when_loaded(window, args: argparse.Namespace, pairs: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    """The window's methods part of the command line, once they have loaded (then ``--method`` runs)."""

    def prepare() -> None:
        try:
            _prepare_methods(window, args, pairs)
        except UserError as exc:
            window.show_error(str(exc))
            return
        if args.grid:
            window.grid_runs.start(_grid_ids(window, args))
        elif args.method:
            window.start_run()

    window.method_loading.when_loaded(prepare)


def _prepare_methods(window, args: argparse.Namespace, pairs: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    """Seed, method, parameters and the Train dock from the command line (the methods are loaded)."""
    window.seed_spin.setValue(args.seed)
    if args.method:
        if not window.select_method(args.method):
            raise UserError(f"method {args.method!r} cannot run here: {window.choices[args.method].reason}")
    if pairs:
        panel = window.param_panel()
        if panel is not None:
            panel.set_values(panel.params_class.from_strings(pairs, base=panel.values()))
    if args.train:
        if not window.train_dock.select_method(args.train):
            raise UserError(f"{args.train!r} is not a network method that can be trained")
        window.show_train_dock()
        if not args.method:
            window.select_method(args.train)  # its panel shows the weights picker


def _screenshot(app, window, args: argparse.Namespace) -> None:  # type: ignore[no-untyped-def]
    """Run the method to completion, let the window settle, grab it to ``args.screenshot``."""
    from PySide6.QtCore import QEventLoop, QTimer

    if args.method and not args.no_run:
        loop = QEventLoop()
        window.run_finished.connect(loop.quit)
        timer = QTimer()
        timer.setSingleShot(True)
        timer.timeout.connect(loop.quit)
        timer.start(int(args.timeout * 1000))
        if window.start_run():
            loop.exec()
        if window.is_running():
            window.cancel_run(wait=True)
            raise UserError(f"the run did not finish within {args.timeout:g} s")
        if window.last_error:
            raise UserError(window.last_error.split("\n\n")[0])
    if args.grid:
        _run_grid(window, args)
    if args.train:
        _train_for_screenshot(window, args)
    for _ in range(5):
        app.processEvents()
    window.viewer.fit()
    window.grid_runs.view.fit()
    if args.view:
        try:
            x, y, w, h = (float(v) for v in args.view.split(","))
        except ValueError:
            raise UserError(f"--view expects X,Y,W,H, got {args.view!r}") from None
        for views in (window.viewer.views(), window.grid_runs.view.views()):  # the grid's panes show the same crop
            if views:
                views[0].setRange(xRange=(x, x + w), yRange=(y, y + h), padding=0)
    app.processEvents()
    window.grab()  # pyqtgraph fits its axes while painting: the first rendering settles them
    app.processEvents()
    image = window.grab()
    Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(args.screenshot)):
        raise UserError(f"cannot write {args.screenshot}")
    print(args.screenshot)


def _grid_ids(window, args: argparse.Namespace) -> list[str]:  # type: ignore[no-untyped-def]
    """The methods of ``--grid``: the ids given, or ``all`` that fit in ``--grid-budget`` seconds."""
    if args.grid.strip() == "all":
        return list(window.grid_runs.fitting_ids(args.grid_budget))
    return [method_id.strip() for method_id in args.grid.split(",") if method_id.strip()]


def _run_grid(window, args: argparse.Namespace) -> None:  # type: ignore[no-untyped-def]
    """Run the ``--grid`` methods one after another and wait for the last; the grid is then in front."""
    import sys

    from PySide6.QtCore import QEventLoop, QTimer

    grid = window.grid_runs
    loop = QEventLoop()
    grid.finished.connect(loop.quit)
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    timer.start(int(args.timeout * 1000))
    if grid.start(_grid_ids(window, args)) and grid.is_running():
        loop.exec()
    if grid.is_running():
        grid.cancel()
        window.cancel_run(wait=True)
        raise UserError(f"the grid's runs did not finish within {args.timeout:g} s")
    if not grid.view.result_ids():
        raise UserError((window.last_error or grid.last_summary or "no method of the grid ran").split("\n\n")[0])
    if grid.failed:
        print(grid.last_summary, file=sys.stderr)


def _train_for_screenshot(window, args: argparse.Namespace) -> None:  # type: ignore[no-untyped-def]
    """Run a short training in the Train dock (weights to a throw-away folder) and wait for it."""
    from PySide6.QtCore import QEventLoop, QTimer

    from denoise_studio.gui.train_dock import CLEAN_FOLDER, CURRENT_IMAGE

    dock = window.train_dock
    loop = QEventLoop()
    dock.training_ended.connect(loop.quit)
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    timer.start(int(args.timeout * 1000))
    scratch = tempfile.TemporaryDirectory(prefix="denoise-studio-train-")
    try:
        data = CLEAN_FOLDER if args.train_data else CURRENT_IMAGE
        if not dock.start_training(args.train, data=data, folder=args.train_data, steps=args.train_steps,
                                   minutes=args.timeout / 60, out=Path(scratch.name) / f"{args.train}.safetensors",
                                   validate_every=max(1, args.train_steps // 8)):
            raise UserError(dock.last_message)
        loop.exec()
        if dock.is_training():
            dock.cancel_training()
            dock.wait()
            raise UserError(f"the training did not finish within {args.timeout:g} s")
        if window.last_error:
            raise UserError(window.last_error.split("\n\n")[0])
    finally:
        scratch.cleanup()
