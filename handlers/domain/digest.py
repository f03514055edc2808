"""Digest figures and text, in the shape of the campaign report: the four category
groups with their sub-types, wards, open/overdue counts, median times to claim and to
resolve. Pure functions: the data comes in, text comes out (the chart is drawn by
bot/charts.py from the same figures)."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from handlers.core.events import Msg
from handlers.core.i18n import Catalog
from handlers.domain import taxonomy
from handlers.domain.places import Gazetteer
from storage.models import DigestRow

TOP_WARDS = 10


@dataclass(frozen=True, slots=True)
class DigestStats:
    total: int
    by_group: dict[str, int]  # every group, in the report's order
    by_category: dict[str, int]
    by_ward: list[tuple[int | None, int]]  # most tips first
    by_channel: dict[str, int]
    open: int
    overdue: int
    median_claim: timedelta | None
    median_resolve: timedelta | None


def compute(rows: list[DigestRow], open_count: int, overdue: int) -> DigestStats:
    by_group = {g.value: 0 for g in taxonomy.Group}
    by_category: Counter[str] = Counter()
    by_ward: Counter[int | None] = Counter()
    by_channel: Counter[str] = Counter()
    to_claim: list[float] = []
    to_resolve: list[float] = []
    for row in rows:
        by_group[row.category_group] = by_group.get(row.category_group, 0) + 1
        by_category[row.category] += 1
        by_ward[row.ward_code] += 1
        by_channel[row.channel] += 1
        if row.claimed_at is not None:
            to_claim.append((row.claimed_at - row.created_at).total_seconds())
        if row.resolved_at is not None:
            to_resolve.append((row.resolved_at - row.created_at).total_seconds())
    return DigestStats(
        total=len(rows),
        by_group=by_group,
        by_category=dict(by_category),
        by_ward=sorted(by_ward.items(), key=lambda kv: (-kv[1], kv[0] or 0)),
        by_channel=dict(by_channel),
        open=open_count,
        overdue=overdue,
        median_claim=timedelta(seconds=statistics.median(to_claim)) if to_claim else None,
        median_resolve=timedelta(seconds=statistics.median(to_resolve)) if to_resolve else None,
    )


def period_of(kind: str, now_local: datetime, hour: int, weekday: int) -> date | None:
    """The latest complete period whose digest time has passed: for "daily" the day
    before the last `hour` o'clock; for "weekly" the week (7 days) before the last
    `weekday` at `hour`. Returns the period's first day."""
    send = now_local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if kind == "daily":
        if now_local < send:
            send -= timedelta(days=1)
        return send.date() - timedelta(days=1)
    send -= timedelta(days=(send.weekday() - weekday) % 7)
    if now_local < send:
        send -= timedelta(days=7)
    return send.date() - timedelta(days=7)


def duration(catalog: Catalog, locale: str, span: timedelta | None) -> str:
    if span is None:
        return "-"
    minutes = int(span.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return catalog.text(locale, Msg("digest.dh", {"d": days, "h": hours}))
    if hours:
        return catalog.text(locale, Msg("digest.hm", {"h": hours, "m": mins}))
    return catalog.text(locale, Msg("digest.m", {"m": mins}))


def render(
    stats: DigestStats,
    *,
    catalog: Catalog,
    locale: str,
    places: Gazetteer,
    kind: str,
    first_day: date,
    scope: str,
    days: int | None = None,
    channels: bool = False,
) -> str:
    """The digest as text (plain; the renderer splits it if it is long)."""

    def t(key: str, **params: str | int | Msg) -> str:
        return catalog.text(locale, Msg(key, dict(params)))

    days = days or (1 if kind == "daily" else 7)
    last_day = first_day + timedelta(days=days - 1)
    period = first_day.strftime("%d/%m/%Y")
    if days > 1:
        period += " – " + last_day.strftime("%d/%m/%Y")
    lines = [
        t("digest.title", kind=Msg(f"digest.{kind}"), period=period, scope=scope),
        t("digest.total", n=stats.total),
    ]
    for group in taxonomy.Group:
        subs = [
            t("digest.sub", cat=Msg(f"cat.{c.id}"), n=stats.by_category[c.id])
            for c in taxonomy.in_group(group)
            if stats.by_category.get(c.id)
        ]
        lines.append(
            t(
                "digest.group",
                group=Msg(f"group.{group.value}"),
                n=stats.by_group.get(group.value, 0),
                subs=", ".join(subs) or "-",
            )
        )
    wards = []
    for code, n in stats.by_ward[:TOP_WARDS]:
        place = places.get(code) if code else None
        name = place.name if place else t("officer.no_ward")
        wards.append(f"{name} {n}")
    rest = sum(n for _, n in stats.by_ward[TOP_WARDS:])
    if rest:
        wards.append(t("digest.other_wards", n=rest))
    lines.append(t("digest.wards", wards=", ".join(wards) or "-"))
    if channels:
        by_channel = ", ".join(f"{name} {n}" for name, n in sorted(stats.by_channel.items()))
        lines.append(t("stats.channels", channels=by_channel or "-"))
    lines.append(t("digest.open", open=stats.open, overdue=stats.overdue))
    lines.append(
        t(
            "digest.medians",
            claim=duration(catalog, locale, stats.median_claim),
            resolve=duration(catalog, locale, stats.median_resolve),
        )
    )
    return "\n".join(lines)
