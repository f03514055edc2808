"""Every repository, bound to one connection: what one transaction can reach.

The pipeline opens one write transaction per batch of events and hands the flows these
repositories through `FlowContext` (typed there by the narrow protocols each flow
needs); workers and the CLI pick the ones they use.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from storage.alerts import Alerts
from storage.approvals import Approvals
from storage.audit import AuditLog
from storage.campaigns import Campaigns
from storage.desk import TipDesk
from storage.digests import Digests
from storage.relay import Relay
from storage.staff import StaffAccounts
from storage.subscriptions import Subscriptions
from storage.tips import TipRepository
from storage.units import Units


class Stores:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.tips = TipRepository(conn)
        self.staff = StaffAccounts(conn)
        self.units = Units(conn)
        self.desk = TipDesk(conn)
        self.relay = Relay(conn)
        self.alerts = Alerts(conn)
        self.audit = AuditLog(conn)
        self.digests = Digests(conn)
        self.subscriptions = Subscriptions(conn)
        self.campaigns = Campaigns(conn)
        self.approvals = Approvals(conn)
