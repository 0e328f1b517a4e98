"""Turn outcome: completed, interrupted or failed, and why a failed turn failed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Applies this revision: the new columns, filled in from the old flags."""
    with op.batch_alter_table("turns") as batch:
        batch.add_column(
            sa.Column("outcome", sa.String(length=16), nullable=False, server_default="completed")
        )
        batch.add_column(
            sa.Column("failure_code", sa.String(length=32), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("failure_stage", sa.String(length=16), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("failure_message", sa.Text(), nullable=False, server_default=""))
    turns = sa.table(
        "turns",
        sa.column("outcome", sa.String),
        sa.column("interrupted", sa.Boolean),
        sa.column("failed", sa.Boolean),
    )
    op.execute(turns.update().where(turns.c.interrupted).values(outcome="interrupted"))
    op.execute(turns.update().where(turns.c.failed).values(outcome="failed"))


def downgrade() -> None:
    """Reverts this revision."""
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("failure_message")
        batch.drop_column("failure_stage")
        batch.drop_column("failure_code")
        batch.drop_column("outcome")
