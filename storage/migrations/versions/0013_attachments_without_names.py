"""attachments.file_name dropped: a citizen's own file name can name them

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 22:10:00

Since the channels drop a file's name at the door, the column was always empty for new
tips; a database from before still holds names like "Nguyen_Van_Lan_CCCD.jpg". The
column goes. On SQLite the table is rebuilt, with `secure_delete` on for this connection
too, so the old table's pages are zeroed rather than left in free space (tested). On
PostgreSQL DROP COLUMN only hides the values, so they are blanked first: the old row
versions then go at the next VACUUM, as any deleted row's do (README, known limits).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        bind.execute(sa.text("PRAGMA secure_delete=ON"))
    bind.execute(sa.text("UPDATE attachments SET file_name = NULL"))
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.drop_column("file_name")


def downgrade() -> None:
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("file_name", sa.Text(), nullable=True))
