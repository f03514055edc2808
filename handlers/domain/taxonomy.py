"""The tip taxonomy: the campaign report's four groups and the sub-types citizens know.

This is the one place categories are defined; flows, digests and statistics group by
`Group`. Labels live in the catalogs under `group.<id>` and `cat.<id>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Group(StrEnum):
    POLITICAL_SECURITY = "political_security"
    CRIMINAL = "criminal"
    SOCIAL_EVILS = "social_evils"
    OTHER = "other"


class Emergency(StrEnum):
    POLICE = "113"
    FIRE = "114"
    AMBULANCE = "115"
    CHILD = "111"


@dataclass(frozen=True, slots=True)
class Category:
    id: str
    group: Group
    emergency: tuple[Emergency, ...]  # numbers to call when it is happening now


_P, _F, _A, _C = Emergency.POLICE, Emergency.FIRE, Emergency.AMBULANCE, Emergency.CHILD

CATEGORIES: tuple[Category, ...] = (
    Category("propaganda", Group.POLITICAL_SECURITY, (_P,)),
    Category("incitement", Group.POLITICAL_SECURITY, (_P,)),
    Category("sabotage", Group.POLITICAL_SECURITY, (_P,)),
    Category("political_other", Group.POLITICAL_SECURITY, (_P,)),
    Category("theft_robbery", Group.CRIMINAL, (_P,)),
    Category("fraud", Group.CRIMINAL, (_P,)),
    Category("assault", Group.CRIMINAL, (_P, _A)),
    Category("human_trafficking", Group.CRIMINAL, (_P,)),
    Category("child_abuse", Group.CRIMINAL, (_C, _P)),
    Category("weapons", Group.CRIMINAL, (_P,)),
    Category("criminal_other", Group.CRIMINAL, (_P,)),
    Category("drugs", Group.SOCIAL_EVILS, (_P,)),
    Category("gambling", Group.SOCIAL_EVILS, (_P,)),
    Category("prostitution", Group.SOCIAL_EVILS, (_P,)),
    Category("social_other", Group.SOCIAL_EVILS, (_P,)),
    Category("fire_risk", Group.OTHER, (_F,)),
    Category("dispute", Group.OTHER, (_P,)),
    Category("public_order", Group.OTHER, (_P,)),
    Category("other", Group.OTHER, (_P,)),
)

BY_ID: dict[str, Category] = {c.id: c for c in CATEGORIES}


def in_group(group: Group) -> list[Category]:
    """Return the sub-types of a group, in display order."""
    return [c for c in CATEGORIES if c.group is group]
