"""an urgent visit is due within a time each municipality sets; plan stops keep it and why late

Revision ID: a7b8c9d0e1f2
Revises: f6a7b8c9d0e1
Create Date: 2026-12-05 14:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'a7b8c9d0e1f2'
down_revision = 'f6a7b8c9d0e1'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('municipalities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('urgent_due_minutes', sa.Integer(), nullable=False, server_default='120'))
    with op.batch_alter_table('plan_stops', schema=None) as batch_op:
        batch_op.add_column(sa.Column('due_s', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('late_reason', sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table('plan_stops', schema=None) as batch_op:
        batch_op.drop_column('late_reason')
        batch_op.drop_column('due_s')
    with op.batch_alter_table('municipalities', schema=None) as batch_op:
        batch_op.drop_column('urgent_due_minutes')
