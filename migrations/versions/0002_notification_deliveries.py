"""Delivery log of /common_return: every POST, kept or refused, with our reply.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 00:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    """Create notification_deliveries (shop.models.NotificationDelivery)."""
    op.create_table('notification_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('sender_ip', sa.String(length=45), nullable=False),
    sa.Column('noti_id', sa.String(length=40), nullable=False),
    sa.Column('tno', sa.String(length=40), nullable=False),
    sa.Column('ordr_no', sa.String(length=40), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('reply', sa.String(length=4), nullable=False),
    sa.Column('http_status', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=True),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['record_id'], ['notifications.id'],
                            name=op.f('fk_notification_deliveries_record_id_notifications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_deliveries'))
    )
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_deliveries_outcome'), ['outcome'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_deliveries_received_at'), ['received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_deliveries_record_id'), ['record_id'], unique=False)


def downgrade():
    """Drop notification_deliveries."""
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_deliveries_record_id'))
        batch_op.drop_index(batch_op.f('ix_notification_deliveries_received_at'))
        batch_op.drop_index(batch_op.f('ix_notification_deliveries_outcome'))
    op.drop_table('notification_deliveries')
