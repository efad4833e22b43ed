"""The console dashboard's charts: SVG rendered by pygal on the server (docs/adr/0013-console-charts.md).

Each chart is a picture of a table the page shows beside it; the numbers come from the same
``service.dashboard.Dashboard``. No script (``js=[]``); colours chosen to be told apart in
greyscale and by people with the common colour-vision deficiencies (the Okabe-Ito palette).
"""

from __future__ import annotations

from typing import Any

from consent_svc.service.dashboard import ACTIONS, KINDS, PurposeWeeks, SiteChoices
from consent_svc.web.console_text import translate
from consent_svc.web.pygal_safe import Style, pygal

STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#1b1f24",
    foreground_strong="#1b1f24",
    foreground_subtle="#555e69",
    colors=("#0072B2", "#E69F00", "#D55E00", "#009E73", "#CC79A7", "#56B4E9"),
    font_family="system-ui, sans-serif",
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=13,
    title_font_size=15,
)

KIND_LABELS = {
    "consent_given": "Consents given",
    "consent_withdrawn": "Consents withdrawn",
    "objection": "Objections",
    "unsubscribe": "Unsubscribes",
}
ACTION_LABELS = {
    "accept_all": "Accept all",
    "reject_all": "Reject all",
    "save": "Custom choice",
    "dismiss": "Dismissed",
}


def _config(lang: str) -> dict[str, object]:
    return {
        "style": STYLE, "js": [], "width": 720, "height": 360, "legend_at_bottom": True, "legend_at_bottom_columns": 2,
        "show_y_guides": True, "print_zeroes": False, "no_data_text": translate(lang, "No data"),
        "margin": 16, "truncate_legend": -1,
    }  # fmt: skip


def _whole_numbers(chart: Any, top: int) -> None:
    """Counts on the axis, never 0.1 of a consent."""
    step = max(1, -(-top // 5))
    chart.y_labels = list(range(0, top + step, step))


def purpose_chart(weeks: PurposeWeeks, lang: str) -> bytes:
    chart = pygal.Bar(**_config(lang))
    _whole_numbers(chart, max((max(v) for v in weeks.counts.values()), default=0))
    chart.title = translate(lang, "Purpose {purpose}, per week", purpose=weeks.purpose)
    chart.x_labels = [w.strftime("%d/%m") for w in weeks.weeks]
    for kind in KINDS:
        chart.add(translate(lang, KIND_LABELS[kind]), weeks.counts[kind])
    return bytes(chart.render())


def suppressions_chart(rows: list[tuple[str, int]], lang: str) -> bytes:
    chart = pygal.HorizontalBar(**_config(lang))
    _whole_numbers(chart, max((n for _, n in rows), default=0))
    chart.title = translate(lang, "Suppression entries by reason")
    for reason, n in rows:
        chart.add(translate(lang, reason), n)
    if not rows:  # pygal cannot draw a chart without a series: an empty one
        chart.add(translate(lang, "Suppression entries by reason"), [])
    return bytes(chart.render())


def banner_chart(sites: list[SiteChoices], lang: str) -> bytes:
    chart = pygal.StackedBar(**_config(lang))
    _whole_numbers(chart, max((s.total for s in sites), default=0))
    chart.title = translate(lang, "Banner choices per site")
    chart.x_labels = [s.site_key for s in sites]
    for action in ACTIONS:
        chart.add(translate(lang, ACTION_LABELS[action]), [s.counts.get(action, 0) for s in sites])
    return bytes(chart.render())
