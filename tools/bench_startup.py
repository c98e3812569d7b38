"""Start-up benchmark: seconds from launching the window to a painted window that answers.

Each run starts ``denoise-studio gui --no-session`` (the same ``cli.main`` the script calls) in
a fresh Python process, offscreen, with settings in a throw-away folder. A small bootstrap in
that process watches the application's events and prints, each timed by this parent from the
launch:

* painted: the main window has handled its first paint event;
* answering: a zero-delay timer queued after that paint has fired (the event loop runs);
* methods: the method list is loaded (``window.method_loading.is_loading()`` is false);

and the largest gap between 10 ms timer ticks from *answering* to *methods* (how well the window
answers while torch and the methods load behind it). Also the CPU seconds the process had used
when it painted: on a core shared with other work, what an idle core would take, where the
wall-clock times grow with the load. ``--screenshot`` times the issue's whole
command instead: ``gui sample:astronaut --noise-sigma 25 --screenshot OUT.png``. ``--open FILE``
opens FILE in a window (no methods) and reports when ``open_image`` returned, when the image
arrived and the largest gap between 10 ms ticks meanwhile, up to a second after it arrived.

    taskset -c 0 python3 tools/bench_startup.py [--runs 3] [--screenshot | --open FILE] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 2.0
TIMEOUT_S = 120.0

# Runs inside the launched process: wraps create_application so the probe sees the window.
BOOTSTRAP = r"""
import sys, time
from denoise_studio.gui import application

def say(word, value=""):
    print(word, value, flush=True)

_create = application.create_application

def create_application(*args, **kwargs):
    app = _create(*args, **kwargs)
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    class Probe(QObject):
        def __init__(self):
            super().__init__()
            self.window = None
            self.last_tick = None
            self.gap = 0.0
            self.ticker = QTimer()
            self.ticker.setInterval(10)
            self.ticker.timeout.connect(self.tick)

        def eventFilter(self, obj, event):
            if self.window is None and event.type() == QEvent.Type.Paint and isinstance(obj, QMainWindow):
                self.window = obj
                say("painted", f"{time.process_time():.3f}")
                QTimer.singleShot(0, self.answered)
            return False

        def answered(self):
            say("answering")
            self.last_tick = time.perf_counter()
            self.ticker.start()

        def tick(self):
            now = time.perf_counter()
            self.gap = max(self.gap, now - self.last_tick)
            self.last_tick = now
            loading = getattr(self.window, "method_loading", None)  # absent before the methods loaded behind the window
            if loading is None or not loading.is_loading():
                self.ticker.stop()
                say("methods")
                say("gap", f"{self.gap * 1000:.0f}")
                self.window.close()
                QApplication.instance().quit()

    app._startup_probe = Probe()
    app.installEventFilter(app._startup_probe)
    return app

application.create_application = create_application
from denoise_studio.cli import main
sys.exit(main(["gui", "--no-session", *sys.argv[1:]]))
"""


def _environment(config_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["XDG_CONFIG_HOME"] = config_dir  # default layout and method: no user settings
    return env


def time_window(gui_args: list[str]) -> dict[str, float]:
    """One launch: seconds to each probe line, and the largest tick gap in ms."""
    with tempfile.TemporaryDirectory(prefix="denoise-studio-startup-") as config_dir:
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-c", BOOTSTRAP, *gui_args], stdout=subprocess.PIPE,
                                   text=True, env=_environment(config_dir))
        assert process.stdout is not None
        times: dict[str, float] = {}
        for line in process.stdout:
            word, _, value = line.strip().partition(" ")
            if word in ("painted", "answering", "methods"):
                times[word] = time.perf_counter() - start
                if word == "painted":
                    times["painted_cpu"] = float(value)
            elif word == "gap":
                times["gap_ms"] = float(value)
            if time.perf_counter() - start > TIMEOUT_S:
                process.kill()
                break
        process.wait(TIMEOUT_S)
    missing = {"painted", "answering", "methods"} - set(times)
    if missing:
        raise SystemExit(f"the window never reported {sorted(missing)} (exit {process.returncode})")
    return times


def time_screenshot() -> float:
    """Seconds of the issue's whole screenshot command."""
    with tempfile.TemporaryDirectory(prefix="denoise-studio-startup-") as folder:
        command = [sys.executable, "-m", "denoise_studio.cli", "gui", "sample:astronaut", "--noise-sigma", "25",
                   "--screenshot", str(Path(folder) / "shot.png")]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=_environment(folder), timeout=TIMEOUT_S)
        return time.perf_counter() - start


def time_open(path: str) -> dict[str, float]:
    """Open ``path`` in a window of this process: seconds to return and to arrive, largest tick gap in ms."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings, QTimer

    from denoise_studio.gui.application import create_application
    from denoise_studio.gui.main_window import MainWindow

    app = create_application(offscreen=True)
    with tempfile.TemporaryDirectory(prefix="denoise-studio-open-") as folder:
        window = MainWindow(settings=QSettings(str(Path(folder) / "settings.ini"), QSettings.Format.IniFormat),
                            choices={}, restore_layout=False)
        window.resize(1200, 800)
        window.show()
        app.processEvents()
        arrived: list[float] = []
        window.image_loaded.connect(lambda _source: arrived.append(time.perf_counter()))
        ticks = [time.perf_counter()]
        ticker = QTimer()
        ticker.timeout.connect(lambda: ticks.append(time.perf_counter()))
        ticker.start(10)
        start = time.perf_counter()
        window.open_image(path)
        returned = time.perf_counter() - start
        while not arrived or time.perf_counter() < arrived[0] + 1.0:
            app.processEvents()
            time.sleep(0.002)
            if time.perf_counter() - start > TIMEOUT_S:
                raise SystemExit(f"{path} did not arrive within {TIMEOUT_S:g} s: {window.last_error}")
        ticker.stop()
        window.close()
    gap = max(b - a for a, b in zip(ticks, ticks[1:]))
    return {"returned": returned, "arrived": arrived[0] - start, "gap_ms": gap * 1000}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 tools/bench_startup.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="launches; the median is reported (default 3)")
    parser.add_argument("--screenshot", action="store_true", help="time the issue's --screenshot command instead")
    parser.add_argument("--open", metavar="FILE", help="time opening FILE in a window instead")
    parser.add_argument("--markdown", action="store_true", help="one table row for docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    if args.open:
        opened = time_open(args.open)
        print(f"open_image returned after {opened['returned']:.3f} s; the image arrived after {opened['arrived']:.2f} s; "
              f"largest gap between 10 ms ticks {opened['gap_ms']:.0f} ms")
        return 0
    if args.screenshot:
        totals = [time_screenshot() for _ in range(args.runs)]
        print(f"screenshot command: {', '.join(f'{t:.2f}' for t in totals)} s; median {statistics.median(totals):.2f} s")
        return 0
    runs = [time_window([]) for _ in range(args.runs)]
    keys = ("painted", "painted_cpu", "answering", "methods", "gap_ms")
    median = {key: statistics.median(run[key] for run in runs) for key in keys}
    for index, run in enumerate(runs, start=1):
        print(f"run {index}: painted {run['painted']:.2f} s ({run['painted_cpu']:.2f} s of CPU), answering "
              f"{run['answering']:.2f} s, methods {run['methods']:.2f} s, largest gap while loading {run['gap_ms']:.0f} ms")
    verdict = "meets" if median["answering"] < TARGET_S else "misses"
    print(f"median of {args.runs}: painted {median['painted']:.2f} s ({median['painted_cpu']:.2f} s of CPU), answering "
          f"{median['answering']:.2f} s ({verdict} the {TARGET_S:g} s target), methods {median['methods']:.2f} s, "
          f"largest gap while loading {median['gap_ms']:.0f} ms; load average {os.getloadavg()[0]:.1f}")
    if args.markdown:
        print(f"| {median['painted']:.2f} s | {median['painted_cpu']:.2f} s | {median['answering']:.2f} s | "
              f"{median['methods']:.2f} s | {median['gap_ms']:.0f} ms | {os.getloadavg()[0]:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
