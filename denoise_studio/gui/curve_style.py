"""How each curve and event is drawn: colour, line style, name; shared by the live view and the figure.

Colours come from the Okabe–Ito cycle (readable for colour-blind viewers on a dark background)
and every series of a run of the same kind also has a line style of its own, so that two curves
of similar colour ("PSNR noisy" and its average) are told apart by their dashes as well.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt

from denoise_studio.core import curves

PALETTE = ("#56b4e9", "#e69f00", "#009e73", "#f0e442", "#cc79a7", "#d55e00", "#0072b2", "#ffffff")
STYLES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine, Qt.PenStyle.DashDotLine)

EVENT_COLOURS = {
    curves.EVENT_GUARD: "#ff5555", curves.EVENT_STOP: "#ffffff",
    curves.ES_WMV: "#f0e442", curves.ES_EMV: "#e69f00",
    curves.suggestion_event(curves.ES_WMV): "#f0e442", curves.suggestion_event(curves.ES_EMV): "#e69f00",
}
EVENT_NAMES = {
    curves.EVENT_GUARD: "guard rollback",
    curves.ES_WMV: "ES-WMV fired at",
    curves.ES_EMV: "ES-EMV fired at",
    curves.suggestion_event(curves.ES_WMV): "ES-WMV suggests",
    curves.suggestion_event(curves.ES_EMV): "ES-EMV suggests",
    curves.EVENT_STOP: "stopped",
}
CURSOR_COLOUR = "#ffcc33"


@dataclass(frozen=True)
class SeriesStyle:
    colour: str
    style: Qt.PenStyle
    name: str


# The curves every run of a kind draws keep their look from run to run, whatever comes first.
KNOWN: dict[str, SeriesStyle] = {
    curves.LOSS: SeriesStyle(PALETTE[0], Qt.PenStyle.SolidLine, "loss"),
    curves.PSNR_NOISY: SeriesStyle(PALETTE[1], Qt.PenStyle.DashLine, "PSNR vs noisy"),
    curves.PSNR_NOISY_AVG: SeriesStyle(PALETTE[5], Qt.PenStyle.DotLine, "PSNR vs noisy, averaged"),
    curves.PSNR_REF: SeriesStyle(PALETTE[2], Qt.PenStyle.SolidLine, "PSNR vs reference"),
    curves.PSNR_REF_AVG: SeriesStyle(PALETTE[4], Qt.PenStyle.DashDotLine, "PSNR vs reference, averaged"),
    curves.PSNR: SeriesStyle(PALETTE[2], Qt.PenStyle.SolidLine, "PSNR vs reference"),
    curves.PSNR_VALIDATION: SeriesStyle(PALETTE[2], Qt.PenStyle.SolidLine, "validation PSNR"),
    curves.VARIANCE_WMV: SeriesStyle(PALETTE[3], Qt.PenStyle.DashLine, "ES-WMV variance (right)"),
    curves.VARIANCE_EMV: SeriesStyle(PALETTE[6], Qt.PenStyle.DotLine, "ES-EMV variance (right)"),
}


def series_style(key: str, others_before: int) -> SeriesStyle:
    """The look of series ``key``; ``others_before`` counts the unknown series drawn before it."""
    known = KNOWN.get(key)
    if known is not None:
        return known
    name = key.replace("_", " ") + (" (right)" if curves.is_variance(key) else "")
    return SeriesStyle(PALETTE[others_before % len(PALETTE)], STYLES[(others_before // 2 + 1) % len(STYLES)], name)


def is_quality(key: str) -> bool:
    """Whether a series goes on the PSNR plot (the others go on the loss plot)."""
    return key.startswith("psnr")


def event_label(name: str, step: int) -> str:
    return f"{EVENT_NAMES.get(name, name)} {step}"


def legend_html(entries: list[tuple[str, SeriesStyle]]) -> str:
    """A one-line legend as rich text: a sample of each line (dashes drawn with characters), then its name."""
    samples = {
        Qt.PenStyle.SolidLine: "━━━", Qt.PenStyle.DashLine: "╸ ╸ ╸", Qt.PenStyle.DotLine: "┈┈┈┈",
        Qt.PenStyle.DashDotLine: "━ · ━",
    }
    parts = [
        f'<span style="white-space:nowrap"><span style="color:{style.colour}; font-weight:bold">'
        f'{samples.get(style.style, "━━━")}</span>&nbsp;{_unbreakable(style.name)}</span>'
        for _, style in entries
    ]
    return " &nbsp;&nbsp; ".join(parts)


def _unbreakable(text: str) -> str:
    """``text`` with non-breaking spaces and hyphens, so that a legend entry never wraps inside."""
    return text.replace(" ", "&nbsp;").replace("-", "\u2011")


def label_anchor(name: str) -> list[tuple[float, float]]:
    """Where a marker's label sits: a rule's firing point (the latest iterations, near the right
    edge) to the left of its line, everything else to the right."""
    side = 1.0 if name in (curves.ES_WMV, curves.ES_EMV, curves.EVENT_STOP) else 0.0
    return [(side, 0.5), (side, 0.5)]
