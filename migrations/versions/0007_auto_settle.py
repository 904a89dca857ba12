"""The automatic settler's schedule (shop.services.settler.AutoSettle): one row per order it is settling.

Every worker process runs a settler; the attempt counter and the time the next attempt is due live
here so that they share one schedule and claim each attempt once (compare-and-set on ``attempts``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 00:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    """Create auto_settle."""
    op.create_table('auto_settle',
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_at', sa.DateTime(), nullable=False),
    sa.Column('last_at', sa.DateTime(), nullable=True),
    sa.Column('last_result', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_auto_settle_order_id_orders')),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_auto_settle'))
    )
    with op.batch_alter_table('auto_settle', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auto_settle_next_at'), ['next_at'], unique=False)


def downgrade():
    """Drop auto_settle."""
    with op.batch_alter_table('auto_settle', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auto_settle_next_at'))
    op.drop_table('auto_settle')
