"""staff e-mail for alerts

Revision ID: 5a1e7c0d2b11
Revises: 8b9a20c0327e
Create Date: 2026-11-25 02:00:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '5a1e7c0d2b11'
down_revision = '8b9a20c0327e'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable: existing accounts simply get no alert e-mail until someone sets an address.
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=True))


def downgrade():
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('email')
