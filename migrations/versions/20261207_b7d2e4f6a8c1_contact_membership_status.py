"""The audience count at 100,000 contacts (issue 21): the contact's membership status now, kept on
the contact by the lifecycle (crm.memberships.lifecycle.facts), backfilled here from the memberships
(the current one, else the newest; "" for none); and one index on (postcode_area, email_consent,
membership_status, erased_at, id) in place of the postcode-area one, so "areas N and E, no
membership or lapsed, news by email" is a few index range counts.

Revision ID: b7d2e4f6a8c1
Revises: a3c9e7f2b5d1
Create Date: 2026-12-07 12:20:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "b7d2e4f6a8c1"
down_revision = "a3c9e7f2b5d1"
branch_labels = None
depends_on = None

#: The statuses of a current membership when this was written (crm.memberships.models.CURRENT_STATUSES).
CURRENT = "'pending', 'direct_debit_pending', 'active', 'grace', 'suspended'"
BACKFILL = f"""
UPDATE contact SET membership_status = COALESCE((
    SELECT m.status FROM membership m WHERE m.contact_id = contact.id
    ORDER BY CASE WHEN m.status IN ({CURRENT}) THEN 0 ELSE 1 END, m.id DESC LIMIT 1
), '')
WHERE EXISTS (SELECT 1 FROM membership m WHERE m.contact_id = contact.id)
"""


def upgrade():
    op.add_column(
        "contact", sa.Column("membership_status", sa.String(length=30), server_default="", nullable=False)
    )
    op.execute(BACKFILL)
    op.create_index(
        "ix_contact_audience",
        "contact",
        ["postcode_area", "email_consent", "membership_status", "erased_at", "id"],
        unique=False,
    )
    op.drop_index("ix_contact_postcode_area", table_name="contact")


def downgrade():
    op.create_index("ix_contact_postcode_area", "contact", ["postcode_area", "erased_at", "id"], unique=False)
    op.drop_index("ix_contact_audience", table_name="contact")
    op.drop_column("contact", "membership_status")
