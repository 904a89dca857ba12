"""Notifications keep the bytes KCP sent, the charset they were read in and what happened to their
text; refused senders are counted instead of logged one row per POST.

notifications: ``raw_body`` (the POST body byte for byte: KCP posts EUC-KR by default, and a body
read in the wrong charset could not be recovered from decoded text), ``charset`` and
``text_flags`` (a field cut to its column, or bytes the charset could not read).
notification_deliveries: ``raw_body`` (the body of a POST from KCP that could not be stored) and
``repeats`` (how many refused POSTs of one sender in one window a row stands for).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 00:00:00

"""
import sqlite3

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

COLUMNS = (
    ('notifications', sa.Column('raw_body', sa.LargeBinary(), nullable=True)),
    ('notifications', sa.Column('charset', sa.String(length=16), nullable=False, server_default='')),
    ('notifications', sa.Column('text_flags', sa.String(length=32), nullable=False, server_default='')),
    ('notification_deliveries', sa.Column('raw_body', sa.LargeBinary(), nullable=True)),
    ('notification_deliveries', sa.Column('repeats', sa.Integer(), nullable=False, server_default='1')),
)


def upgrade():
    """Add the columns (existing rows: no body kept, charset unknown, no flags, one POST each)."""
    for table, column in COLUMNS:
        op.add_column(table, column)


def downgrade():
    """Drop them again (the kept bodies go with them)."""
    bind = op.get_bind()
    for table, column in reversed(COLUMNS):
        if bind.dialect.name == 'sqlite' and sqlite3.sqlite_version_info < (3, 35):
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.drop_column(column.name)
        else:
            op.drop_column(table, column.name)
