"""Security review columns: the outbox's one-time link, second-factor failures per account

Sign-in, reset and set-password links were stored in the email bodies, where the staff outbox
showed them. The bodies now hold a placeholder; the live link waits in email_outbox.one_time_link
until the message leaves and is then cleared. The links already stored in old bodies are removed.

Wrong second-factor codes were counted in the browser's cookie; user_account.mfa_failures and
mfa_locked_until count them per account on the server.

auth_token.requester (a hash of the requesting address) lets the hourly reset and sign-in-link
caps count per requester, so a stranger cannot use up the owner's.

Revision ID: 3a9c5e71b2d4
Revises: d4f2b6a8c1e3
Create Date: 2026-12-06 20:20:00

"""
import re

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '3a9c5e71b2d4'
down_revision = 'd4f2b6a8c1e3'
branch_labels = None
depends_on = None

_LINK = re.compile(r"(/(?:login/link|password/reset|password/set)/)[A-Za-z0-9_\-]+")
_REMOVED = r"\1[removed]"


def upgrade():
    with op.batch_alter_table('email_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('one_time_link', sa.Text(), nullable=True))
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mfa_failures', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('mfa_locked_until', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('auth_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requester', sa.String(length=64), nullable=True))
    bind = op.get_bind()
    outbox = sa.table('email_outbox', sa.column('id'), sa.column('kind'), sa.column('body_text'),
                      sa.column('body_html'))
    rows = bind.execute(
        sa.select(outbox.c.id, outbox.c.body_text, outbox.c.body_html)
        .where(outbox.c.kind.in_(('welcome', 'login_link', 'reset_password')))
    ).all()
    for row in rows:
        bind.execute(
            outbox.update().where(outbox.c.id == row.id).values(
                body_text=_LINK.sub(_REMOVED, row.body_text or ''),
                body_html=_LINK.sub(_REMOVED, row.body_html or ''),
            )
        )


def downgrade():
    with op.batch_alter_table('auth_token', schema=None) as batch_op:
        batch_op.drop_column('requester')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('mfa_locked_until')
        batch_op.drop_column('mfa_failures')
    with op.batch_alter_table('email_outbox', schema=None) as batch_op:
        batch_op.drop_column('one_time_link')
