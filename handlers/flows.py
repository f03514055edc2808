"""Every flow of the service, in one list: the registry the router is built from.

To add a flow, declare a `Flow` in its module and add it here; nothing else lists
its states, buttons or commands.
"""

from __future__ import annotations

from handlers.admin import approvals, broadcasts, reports, units
from handlers.citizen import erasure, home, intake, relay, status, subscriptions
from handlers.core.i18n import Catalog
from handlers.core.registry import Registry
from handlers.core.router import Router
from handlers.staff import desk, join

REGISTRY = Registry(
    [
        intake.FLOW,
        status.FLOW,
        relay.FLOW,
        subscriptions.FLOW,
        erasure.FLOW,
        desk.FLOW,
        join.FLOW,
        units.FLOW,
        broadcasts.FLOW,
        reports.FLOW,
        approvals.FLOW,
    ],
    home=home.FLOW,
)


def build_router(catalog: Catalog) -> Router:
    return Router(catalog, REGISTRY)
