"""indexes for the staff pages' alert poll: a municipality's open alerts and newest report

Revision ID: c3d4e5f6a7b8
Revises: ed2e571bf16e
Create Date: 2026-12-05 04:55:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'c3d4e5f6a7b8'
down_revision = 'ed2e571bf16e'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_municipality_id')
        batch_op.create_index('ix_alerts_municipality_id_acknowledged_at', ['municipality_id', 'acknowledged_at'], unique=False)

    with op.batch_alter_table('check_reports', schema=None) as batch_op:
        batch_op.drop_index('ix_check_reports_municipality_id')
        batch_op.create_index('ix_check_reports_municipality_id_id', ['municipality_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('check_reports', schema=None) as batch_op:
        batch_op.drop_index('ix_check_reports_municipality_id_id')
        batch_op.create_index('ix_check_reports_municipality_id', ['municipality_id'], unique=False)

    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_municipality_id_acknowledged_at')
        batch_op.create_index('ix_alerts_municipality_id', ['municipality_id'], unique=False)
