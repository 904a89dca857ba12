"""The audit trail's detail becomes a message id with parameters, translated when shown (shop.messages).

Adds ``audit_log.detail_params`` (JSON, nullable) beside ``detail``: NULL means the detail is shown
as stored (rows written before this migration, KCP's own messages, what staff typed), as for the
columns of 0003.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 00:00:00

"""
import sqlite3

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    """Add the nullable params column (existing rows keep NULL: their detail is shown as it is)."""
    op.add_column('audit_log', sa.Column('detail_params', sa.JSON(), nullable=True))


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
    """Write each detail out in English into ``detail``, then drop the params column."""
    bind = op.get_bind()
    rows = sa.table('audit_log', sa.column('id', sa.Integer()), sa.column('detail', sa.Text()),
                    sa.column('detail_params', sa.JSON()))
    found = bind.execute(sa.select(rows.c.id, rows.c.detail, rows.c.detail_params).where(rows.c.detail_params.is_not(None)))
    for row_id, value, values in found.all():
        bind.execute(rows.update().where(rows.c.id == row_id).values(detail=_english(value, values)))
    if bind.dialect.name == 'sqlite' and sqlite3.sqlite_version_info < (3, 35):
        with op.batch_alter_table('audit_log', schema=None) as batch_op:
            batch_op.drop_column('detail_params')
    else:
        op.drop_column('audit_log', 'detail_params')
