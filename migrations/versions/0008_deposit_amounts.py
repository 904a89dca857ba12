"""Amounts a deposit decides as BIGINT: 004 gives a notified deposit (ipgm_mnyx / totl_mnyx) 12
digits, and a deposit of 2,147,483,648 won or more did not fit PostgreSQL's INTEGER: the
notification could not be stored (500, retried by KCP, then lost). What it deposits becomes the
order's paid_amount, and that balance is what a refund sends back, so those columns widen too.

SQLite's INTEGER already holds 64 bits: only PostgreSQL's columns change.

Revision ID: 0008_deposit_amounts
Revises: 0007
Create Date: 2026-12-07 00:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0008_deposit_amounts'
down_revision = '0007'
branch_labels = None
depends_on = None

COLUMNS = {
    'notifications': (('ipgm_mnyx', True), ('totl_mnyx', True)),
    'orders': (('paid_amount', False), ('refunded_amount', False)),
    'refunds': (('amount', False), ('balance_before', False), ('balance_after', True)),
    'refund_intents': (('amount', False), ('balance_before', False)),
}


def _alter(old: sa.types.TypeEngine, new: sa.types.TypeEngine) -> None:
    """Change every column of COLUMNS from ``old`` to ``new`` (PostgreSQL only)."""
    if op.get_bind().dialect.name == 'sqlite':
        return
    for table, columns in COLUMNS.items():
        for name, nullable in columns:
            op.alter_column(table, name, existing_type=old, type_=new, existing_nullable=nullable)


def upgrade():
    """INTEGER -> BIGINT."""
    _alter(sa.Integer(), sa.BigInteger())


def downgrade():
    """Back to INTEGER (PostgreSQL refuses it if an amount past 2,147,483,647 was stored meanwhile)."""
    _alter(sa.BigInteger(), sa.Integer())
