"""inbox: the key whose updates must be processed in order (a person's pseudonym)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 06:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("order_key", sa.String(length=64), nullable=True))
    op.create_index("ix_inbox_order_key_id", "inbox", ["order_key", "id"])


def downgrade() -> None:
    op.drop_index("ix_inbox_order_key_id", table_name="inbox")
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("order_key")
