"""letter batches count the letters rendered so far (the mailing page's progress bar)

Revision ID: f6a7b8c9d0e1
Revises: e5f6a7b8c9d0
Create Date: 2026-12-05 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'f6a7b8c9d0e1'
down_revision = 'e5f6a7b8c9d0'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('letter_batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rendered_count', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('letter_batches', schema=None) as batch_op:
        batch_op.drop_column('rendered_count')
