"""sent_files: the platform's reference for a file we uploaded, shared by replicas

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 08:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sent_files",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel", "name", name=op.f("pk_sent_files")),
    )


def downgrade() -> None:
    op.drop_table("sent_files")
