"""Initial schema: orders, payments, refunds, notifications, state history, KCP exchanges, audit log, admin sessions.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22 23:38:12.154361

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    """Create every table of the shop as shop/models.py and shop/audit.py define it."""
    op.create_table('admin_session',
    sa.Column('sid', sa.String(length=64), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('sid', name=op.f('pk_admin_session'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('ordr_idxx', sa.String(length=40), nullable=False),
    sa.Column('tno', sa.String(length=20), nullable=False),
    sa.Column('result', sa.String(length=20), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_action_ip_created', ['action', 'ip', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_ordr_idxx'), ['ordr_idxx'], unique=False)

    op.create_table('orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ordr_idxx', sa.String(length=40), nullable=False),
    sa.Column('product_id', sa.String(length=40), nullable=False),
    sa.Column('good_name', sa.String(length=100), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=False),
    sa.Column('pay_method', sa.String(length=12), nullable=True),
    sa.Column('tno', sa.String(length=20), nullable=True),
    sa.Column('result_code', sa.String(length=10), nullable=True),
    sa.Column('result_msg', sa.Text(), nullable=True),
    sa.Column('paid_amount', sa.Integer(), nullable=False),
    sa.Column('refunded_amount', sa.Integer(), nullable=False),
    sa.Column('buyer_name', sa.String(length=30), nullable=False),
    sa.Column('buyer_email', sa.String(length=100), nullable=False),
    sa.Column('buyer_phone', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('ordr_idxx', name=op.f('uq_orders_ordr_idxx'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_orders_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_tno'), ['tno'], unique=False)

    op.create_table('kcp_exchanges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('api', sa.String(length=30), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('request', sa.JSON(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=True),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('elapsed_ms', sa.Double(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_kcp_exchanges_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kcp_exchanges'))
    )
    with op.batch_alter_table('kcp_exchanges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kcp_exchanges_order_id'), ['order_id'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('noti_id', sa.String(length=40), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('site_cd', sa.String(length=10), nullable=False),
    sa.Column('tno', sa.String(length=20), nullable=False),
    sa.Column('ordr_no', sa.String(length=40), nullable=False),
    sa.Column('tx_cd', sa.String(length=8), nullable=False),
    sa.Column('tx_tm', sa.String(length=16), nullable=False),
    sa.Column('op_cd', sa.String(length=4), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('ipgm_name', sa.String(length=40), nullable=False),
    sa.Column('ipgm_mnyx', sa.Integer(), nullable=True),
    sa.Column('totl_mnyx', sa.Integer(), nullable=True),
    sa.Column('ipgm_time', sa.String(length=14), nullable=False),
    sa.Column('bank_code', sa.String(length=8), nullable=False),
    sa.Column('account', sa.String(length=30), nullable=False),
    sa.Column('remitter', sa.String(length=40), nullable=False),
    sa.Column('cash_a_no', sa.String(length=20), nullable=False),
    sa.Column('sender_ip', sa.String(length=45), nullable=False),
    sa.Column('raw', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('applied_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_notifications_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('noti_id', name=op.f('uq_notifications_noti_id'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notifications_order_id'), ['order_id'], unique=False)

    op.create_table('payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('tno', sa.String(length=20), nullable=False),
    sa.Column('pay_method', sa.String(length=12), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('res_cd', sa.String(length=10), nullable=False),
    sa.Column('res_msg', sa.Text(), nullable=False),
    sa.Column('res_en_msg', sa.Text(), nullable=False),
    sa.Column('app_time', sa.String(length=14), nullable=True),
    sa.Column('card_cd', sa.String(length=8), nullable=True),
    sa.Column('card_name', sa.String(length=40), nullable=True),
    sa.Column('card_no', sa.String(length=32), nullable=True),
    sa.Column('app_no', sa.String(length=16), nullable=True),
    sa.Column('quota', sa.Integer(), nullable=True),
    sa.Column('noinf', sa.String(length=1), nullable=True),
    sa.Column('card_mny', sa.Integer(), nullable=True),
    sa.Column('coupon_mny', sa.Integer(), nullable=True),
    sa.Column('partcanc_yn', sa.String(length=1), nullable=True),
    sa.Column('acqu_cd', sa.String(length=8), nullable=True),
    sa.Column('acqu_name', sa.String(length=40), nullable=True),
    sa.Column('bankname', sa.String(length=40), nullable=True),
    sa.Column('bankcode', sa.String(length=8), nullable=True),
    sa.Column('bk_mny', sa.Integer(), nullable=True),
    sa.Column('cash_authno', sa.String(length=20), nullable=True),
    sa.Column('cash_no', sa.String(length=20), nullable=True),
    sa.Column('account', sa.String(length=30), nullable=True),
    sa.Column('va_date', sa.String(length=14), nullable=True),
    sa.Column('depositor', sa.String(length=40), nullable=True),
    sa.Column('commid', sa.String(length=8), nullable=True),
    sa.Column('mobile_no', sa.String(length=20), nullable=True),
    sa.Column('van_cd', sa.String(length=8), nullable=True),
    sa.Column('van_id', sa.String(length=8), nullable=True),
    sa.Column('raw', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_payments_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments')),
    sa.UniqueConstraint('order_id', name=op.f('uq_payments_order_id')),
    sa.UniqueConstraint('tno', name=op.f('uq_payments_tno'))
    )
    op.create_table('refunds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('mod_type', sa.String(length=4), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('balance_before', sa.Integer(), nullable=False),
    sa.Column('balance_after', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('actor', sa.String(length=60), nullable=False),
    sa.Column('res_cd', sa.String(length=10), nullable=True),
    sa.Column('res_msg', sa.Text(), nullable=True),
    sa.Column('mod_pacn_seq_no', sa.String(length=30), nullable=True),
    sa.Column('canc_time', sa.String(length=14), nullable=True),
    sa.Column('raw', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_refunds_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refunds'))
    )
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refunds_order_id'), ['order_id'], unique=False)

    op.create_table('state_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=24), nullable=False),
    sa.Column('to_status', sa.String(length=24), nullable=False),
    sa.Column('cause', sa.Text(), nullable=False),
    sa.Column('actor', sa.String(length=60), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_state_changes_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_state_changes'))
    )
    with op.batch_alter_table('state_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_state_changes_order_id'), ['order_id'], unique=False)



def downgrade():
    """Drop them all again (the data with them)."""
    with op.batch_alter_table('state_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_state_changes_order_id'))

    op.drop_table('state_changes')
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refunds_order_id'))

    op.drop_table('refunds')
    op.drop_table('payments')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_order_id'))

    op.drop_table('notifications')
    with op.batch_alter_table('kcp_exchanges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kcp_exchanges_order_id'))

    op.drop_table('kcp_exchanges')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_tno'))
        batch_op.drop_index(batch_op.f('ix_orders_status'))

    op.drop_table('orders')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_ordr_idxx'))
        batch_op.drop_index(batch_op.f('ix_audit_log_created_at'))
        batch_op.drop_index('ix_audit_log_action_ip_created')

    op.drop_table('audit_log')
    op.drop_table('admin_session')
