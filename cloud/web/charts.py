"""Temperature charts of a locker's zones over a period, drawn by pygal as SVG, with each zone's limit drawn in."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import pygal
from pygal.style import Style
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.models_monitoring import ReadingAggregate
from cloud.services.limits import Limits
from cloud.web.i18n import LOCAL_TIME
from lockers.layout import Zone

# Dark enough on white for the lines to read (WCAG non-text contrast); one colour per zone, the limits dashed.
_STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#111",
    foreground_strong="#111",
    foreground_subtle="#555",
    colors=("#6b4e00", "#004b8d", "#5a1f8c", "#b00020", "#b00020"),
    font_family="system-ui, sans-serif",
    label_font_size=14,
    major_label_font_size=14,
    legend_font_size=14,
    title_font_size=16,
)
_ZONE_ORDER = (Zone.AMBIENT, Zone.CHILLED, Zone.FROZEN)


def zone_series(session: Session, locker_id: str, since: datetime) -> dict[Zone, list[tuple[datetime, float]]]:
    """Per zone, the 5-minute means (of all its sensors) since `since`, oldest first."""
    rows = session.execute(
        select(ReadingAggregate.zone, ReadingAggregate.bucket_start, ReadingAggregate.sum_c, ReadingAggregate.count)
        .where(ReadingAggregate.locker_id == locker_id, ReadingAggregate.bucket_start >= since)
        .order_by(ReadingAggregate.bucket_start)
    ).all()
    sums: dict[Zone, dict[datetime, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0]))
    for zone, bucket, total, count in rows:
        if count:
            cell = sums[Zone(zone)][bucket]
            cell[0] += total
            cell[1] += count
    return {zone: [(b, s / n) for b, (s, n) in sorted(buckets.items())] for zone, buckets in sums.items()}


def temperature_chart(
    session: Session,
    limits: Limits,
    locker_id: str,
    now: datetime,
    span: timedelta,
    words: dict[str, str],
) -> str | None:
    """An SVG of the zones' temperatures over `span` up to `now`, or None when there are no readings; `words`:
    `title`, `limit` and each `zone_<zone>` in the page's language."""
    series = zone_series(session, locker_id, now - span)
    if not series:
        return None
    label = "%H:%M" if span <= timedelta(days=1) else "%d-%m %H:%M"  # no weekday names: they would be English
    chart = pygal.DateTimeLine(
        style=_STYLE,
        title=words["title"],
        width=900,
        height=360,
        x_label_rotation=0,
        show_dots=False,
        dynamic_print_values=False,
        x_value_formatter=lambda moment: moment.astimezone(LOCAL_TIME).strftime(label),
        y_title="°C",
        truncate_legend=-1,
        legend_at_bottom=True,
        disable_xml_declaration=True,
        js=[],  # no scripts from elsewhere; the picture stands on its own
    )
    start, end = now - span, now
    for zone in _ZONE_ORDER:
        points = series.get(zone)
        if points:
            chart.add(words[f"zone_{zone.value}"], [(moment, round(value, 2)) for moment, value in points])
    for zone in _ZONE_ORDER:
        limit = limits.for_zone(session, locker_id, zone).limit_c
        if zone in series and limit is not None:
            name = f"{words[f'zone_{zone.value}']}: {words['limit']} {limit:g} °C"
            chart.add(name, [(start, limit), (end, limit)], stroke_style={"dasharray": "8,6"})
    return chart.render(is_unicode=True)
