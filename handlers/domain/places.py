"""Wards and communes of Vietnam's 2025 two-level map, from `vietnam-provinces`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process
from vietnam_provinces import Province, Ward

from handlers.core.text import fold

_PREFIXES = ("phuong ", "xa ", "dac khu ", "thi tran ", "p ", "x ", "tt ")
FUZZY_CUTOFF = 85  # a one- or two-letter slip in a ward's name still finds it


@dataclass(frozen=True, slots=True)
class Place:
    code: int
    name: str
    province_code: int
    province_name: str
    folded: str  # without the "phường/xã" prefix


class Gazetteer:
    """Searches the wards/communes of one province by folded (diacritic-free) name."""

    def __init__(self, province_codename: str) -> None:
        province = next((p for p in Province.iter_all() if p.codename == province_codename), None)
        if province is None:
            raise ValueError(f"unknown province codename: {province_codename!r}")
        self.province_code = int(province.code)
        self.province_name = province.name
        self._places = [
            Place(int(w.code), w.name, int(w.province_code), province.name, _bare(fold(w.name)))
            for w in Ward.iter_by_province(province.code)
        ]
        self._by_code = {p.code: p for p in self._places}

    def __len__(self) -> int:
        return len(self._places)

    def all(self) -> list[Place]:
        return list(self._places)

    def get(self, code: int) -> Place | None:
        return self._by_code.get(code)

    def named(self, query: str) -> Place | None:
        """The place a typed name designates ("Hoàn Kiếm", "phuong hoan kiem"), if one
        matches it whole; used where a guess would be wrong (admin unit coverage)."""
        for place in self.search(query, limit=1):
            if fold(place.name).endswith(fold(query)):
                return place
        return None

    def search(self, query: str, limit: int = 8) -> list[Place]:
        """Find places whose name contains the query, or that the query mentions; failing
        that, the closest names. The query is tried without its "phường/xã" prefix and
        then whole, since some names begin with the prefix's word ("Phường Phương Liệt",
        "Xã Phượng Dực")."""
        found: list[Place] = []
        for q in dict.fromkeys((_bare(fold(query)), fold(query))):
            found += [p for p in self._match(q) if p not in found]
        return found[:limit]

    def _match(self, q: str) -> list[Place]:
        if len(q) < 2:
            return []
        exact = [p for p in self._places if p.folded == q]
        inside = [p for p in self._places if q in p.folded and p not in exact]
        mentioned = [
            p
            for p in self._places
            if len(p.folded) >= 4 and f" {p.folded} " in f" {q} " and p not in exact + inside
        ]
        found = exact + inside + mentioned
        if not found and len(q) >= 4:
            # Nothing contains what was typed: offer the closest names ("hoan kiemm",
            # "ba dihn"), for the citizen to confirm, before treating it as an address.
            close = process.extract(
                q, [p.folded for p in self._places], scorer=fuzz.ratio, limit=3,
                score_cutoff=FUZZY_CUTOFF,
            )  # fmt: skip
            found = [self._places[index] for _, _, index in close]
        return found


def _bare(folded: str) -> str:
    for prefix in _PREFIXES:
        if folded.startswith(prefix):
            return folded[len(prefix) :]
    return folded


@lru_cache(maxsize=8)
def gazetteer(province_codename: str) -> Gazetteer:
    """Return the (cached) gazetteer of a province."""
    return Gazetteer(province_codename)
