"""Stored sentences become message ids with parameters, translated when shown (shop.messages).

Adds a JSON column of placeholder values beside each text column that holds one: NULL means the
text is shown as stored (rows written before this migration, KCP's own res_msg, what staff typed).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 00:00:00

"""
import sqlite3

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# (table, text column, params column), in model order.
COLUMNS = (
    ('orders', 'status_reason', 'status_reason_params'),
    ('orders', 'result_msg', 'result_msg_params'),
    ('notifications', 'note', 'note_params'),
    ('notification_deliveries', 'reason', 'reason_params'),
    ('state_changes', 'cause', 'cause_params'),
)


def upgrade():
    """Add the nullable params columns (existing rows keep NULL: their text is shown as it is)."""
    for table, _text, params in COLUMNS:
        # A plain ALTER TABLE ADD COLUMN, SQLite included: no table is copied, so the rows that
        # reference orders (payments, history ...) never stand in the way of a foreign key.
        op.add_column(table, sa.Column(params, sa.JSON(), nullable=True))


def _english(text, params):
    """The English sentence of a message id and its values (as shop.messages.render, without the app)."""
    if params is None or not text:
        return text
    values = {}
    for name, value in params.items():
        if isinstance(value, dict) and '_msg' in value:
            values[name] = _english(value['_msg'], value.get('_params'))
        elif isinstance(value, dict) and '_actor' in value:
            values[name] = value['_actor']
        else:
            values[name] = value
    try:
        return text % values if values else text
    except (KeyError, ValueError, TypeError):
        return text


def downgrade():
    """Write each sentence out in English into its text column, then drop the params columns."""
    bind = op.get_bind()
    for table, text, params in reversed(COLUMNS):
        rows = sa.table(table, sa.column('id', sa.Integer()), sa.column(text, sa.Text()), sa.column(params, sa.JSON()))
        found = bind.execute(sa.select(rows.c.id, rows.c[text], rows.c[params]).where(rows.c[params].is_not(None)))
        for row_id, value, values in found.all():
            bind.execute(rows.update().where(rows.c.id == row_id).values({text: _english(value, values)}))
        if bind.dialect.name == 'sqlite' and sqlite3.sqlite_version_info < (3, 35):
            # No ALTER TABLE DROP COLUMN before SQLite 3.35: copy the table (foreign keys permitting).
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.drop_column(params)
        else:
            op.drop_column(table, params)
