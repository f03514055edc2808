"""Digest charts, drawn headless with matplotlib (Agg: no display, no GUI toolkit)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: a server has no display

import matplotlib.pyplot as plt

from handlers.core.events import Msg
from handlers.core.i18n import Catalog
from handlers.domain import taxonomy
from handlers.domain.digest import TOP_WARDS, DigestStats
from handlers.domain.places import Gazetteer

_COLOURS = ("#b71c1c", "#1565c0", "#6a1b9a", "#546e7a")


def draw(
    stats: DigestStats,
    path: Path,
    *,
    catalog: Catalog,
    locale: str,
    places: Gazetteer,
    title: str,
) -> Path:
    """Two panels: tips by category group (stacked by sub-type) and by ward."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.8), dpi=100)
    try:
        groups = list(taxonomy.Group)
        labels = [catalog.text(locale, Msg(f"group.{g.value}")) for g in groups]
        for index, group in enumerate(groups):
            bottom = 0
            for shade, category in enumerate(taxonomy.in_group(group)):
                n = stats.by_category.get(category.id, 0)
                if not n:
                    continue
                left.bar(
                    index,
                    n,
                    bottom=bottom,
                    color=_COLOURS[index],
                    alpha=1.0 - 0.15 * (shade % 5),
                    edgecolor="white",
                )
                bottom += n
            left.text(index, bottom, str(bottom), ha="center", va="bottom", fontsize=9)
        left.set_xticks(range(len(groups)), labels, rotation=15, ha="right", fontsize=8)
        left.set_ylabel(catalog.text(locale, Msg("digest.chart.tips")))
        left.set_title(catalog.text(locale, Msg("digest.chart.by_group")), fontsize=10)

        wards = stats.by_ward[:TOP_WARDS]
        names = []
        for code, _ in wards:
            place = places.get(code) if code else None
            names.append(place.name if place else catalog.text(locale, Msg("officer.no_ward")))
        right.barh(range(len(wards)), [n for _, n in wards], color="#37474f")
        right.set_yticks(range(len(wards)), names, fontsize=8)
        right.invert_yaxis()
        right.set_title(catalog.text(locale, Msg("digest.chart.by_ward")), fontsize=10)
        fig.suptitle(title, fontsize=11)
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path
