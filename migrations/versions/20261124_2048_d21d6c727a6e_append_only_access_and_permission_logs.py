"""append-only access and permission logs

Revision ID: d21d6c727a6e
Revises: 1b0e2797d1ce
Create Date: 2026-11-24 20:48:50.504955

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd21d6c727a6e'
down_revision = '1b0e2797d1ce'
branch_labels = None
depends_on = None


#: Rows younger than this may not be deleted (PIPA 안전성 확보조치 기준 제8조, 제5조③).
RETENTION_DAYS = {"access_log": 730, "permission_events": 1095}


def upgrade():
    """Refuse UPDATE always, and DELETE of rows still inside their retention period."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION refuse_log_change() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'UPDATE' THEN
                    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
                END IF;
                IF OLD.at > now() - make_interval(days => TG_ARGV[0]::int) THEN
                    RAISE EXCEPTION '% rows are kept for % days', TG_TABLE_NAME, TG_ARGV[0];
                END IF;
                RETURN OLD;
            END
            $$ LANGUAGE plpgsql
            """
        )
        for table, days in RETENTION_DAYS.items():
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION refuse_log_change('{days}')"
            )
        return
    for table, days in RETENTION_DAYS.items():
        op.execute(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_early_delete BEFORE DELETE ON {table} "
            f"WHEN OLD.at > datetime('now', '-{days} days') "
            f"BEGIN SELECT RAISE(ABORT, '{table} rows are kept for {days} days'); END"
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in RETENTION_DAYS:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute("DROP FUNCTION refuse_log_change()")
        return
    for table in RETENTION_DAYS:
        op.execute(f"DROP TRIGGER {table}_no_update")
        op.execute(f"DROP TRIGGER {table}_no_early_delete")
