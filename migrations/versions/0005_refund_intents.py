"""Reviewed refunds (shop.models.RefundIntent): what a refund confirmation form stands for.

A refund reviewed on the confirmation page is stored with its amount and the balance it was
reviewed against; confirming claims it once (pending -> sending) under the order's lock, so the
same confirmation posted twice (a double click, a re-sent request) refunds once.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 00:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    """Create refund_intents."""
    op.create_table('refund_intents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('full', sa.Boolean(), nullable=False),
    sa.Column('mod_type', sa.String(length=4), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('balance_before', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('actor', sa.String(length=60), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('note_params', sa.JSON(), nullable=True),
    sa.Column('refund_id', sa.Integer(), nullable=True),
    sa.Column('confirmed_by', sa.String(length=60), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_refund_intents_order_id_orders')),
    sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], name=op.f('fk_refund_intents_refund_id_refunds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refund_intents')),
    sa.UniqueConstraint('token', name=op.f('uq_refund_intents_token'))
    )
    with op.batch_alter_table('refund_intents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refund_intents_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refund_intents_status'), ['status'], unique=False)


def downgrade():
    """Drop refund_intents."""
    with op.batch_alter_table('refund_intents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refund_intents_status'))
        batch_op.drop_index(batch_op.f('ix_refund_intents_order_id'))
    op.drop_table('refund_intents')
