"""outbox messages name their queue and when they were last handed to a worker queue

Revision ID: d4e5f6a7b8c9
Revises: c3d4e5f6a7b8
Create Date: 2026-12-05 07:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'd4e5f6a7b8c9'
down_revision = 'c3d4e5f6a7b8'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('queue', sa.String(length=20), nullable=False, server_default='alerts'))
        batch_op.add_column(sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_outbox_status_queue_available_at', ['status', 'queue', 'available_at'], unique=False)
    op.execute(
        "UPDATE outbox SET queue = CASE kind WHEN 'route_plan' THEN 'plans' "
        "WHEN 'produce_letters' THEN 'letters' ELSE 'alerts' END"
    )


def downgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status_queue_available_at')
        batch_op.drop_column('dispatched_at')
        batch_op.drop_column('queue')
