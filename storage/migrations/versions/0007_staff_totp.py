"""staff: a TOTP second factor (sealed secret, last step used)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 05:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("totp_secret", sa.Text(), nullable=True))
        batch.add_column(sa.Column("totp_step", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("totp_step")
        batch.drop_column("totp_secret")
