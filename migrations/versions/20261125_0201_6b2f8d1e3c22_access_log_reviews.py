"""access log reviews

Revision ID: 6b2f8d1e3c22
Revises: 5a1e7c0d2b11
Create Date: 2026-11-25 02:00:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '6b2f8d1e3c22'
down_revision = '5a1e7c0d2b11'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('access_log_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('municipality_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('generated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.Column('findings_count', sa.Integer(), nullable=False),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('checked_by', sa.Integer(), nullable=True),
    sa.Column('check_note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['checked_by'], ['accounts.id'], name=op.f('fk_access_log_reviews_checked_by_accounts')),
    sa.ForeignKeyConstraint(['municipality_id'], ['municipalities.id'], name=op.f('fk_access_log_reviews_municipality_id_municipalities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_log_reviews')),
    sa.UniqueConstraint('municipality_id', 'month', name=op.f('uq_access_log_reviews_municipality_id_month'))
    )
    with op.batch_alter_table('access_log_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_access_log_reviews_municipality_id'), ['municipality_id'], unique=False)


def downgrade():
    with op.batch_alter_table('access_log_reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_access_log_reviews_municipality_id'))

    op.drop_table('access_log_reviews')
