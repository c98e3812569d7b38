"""`denoise-studio gui --screenshot`: run a method in the window and render it to a file."""

from __future__ import annotations

from pathlib import Path

from denoise_studio.commands.gui import add_arguments, run
from denoise_studio.core.image import load_image


def _args(*argv: str):  # type: ignore[no-untyped-def]
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_screenshot_runs_the_method_and_writes_the_window(qapp, small_png: Path, tmp_path: Path) -> None:
    out = tmp_path / "shot.png"
    code = run(_args(str(small_png), "--screenshot", str(out), "--method", "gaussian", "--noise-sigma", "20",
                     "--param", "sigma=20", "--window-size", "1100x760", "--mode", "side"))
    assert code == 0
    shot = load_image(out)
    assert (shot.width, shot.height) == (1100, 760)
    # A real rendering, not a blank surface: many distinct colours.
    colours = {tuple(p) for p in (shot.pixels.reshape(-1, 3)[::97] * 255).astype(int)}
    assert len(colours) > 200


def test_the_gui_subcommand_reports_user_errors(qapp, tmp_path: Path, capsys) -> None:
    from denoise_studio.cli import main

    code = main(["gui", "sample:nonexistent", "--screenshot", str(tmp_path / "x.png")])
    assert code == 2
    assert "unknown sample" in capsys.readouterr().err
    code = main(["gui", "sample:camera", "--screenshot", str(tmp_path / "x.png"), "--method", "no_such_method"])
    assert code == 2
    assert "unknown method" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
