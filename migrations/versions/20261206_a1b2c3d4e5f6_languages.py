"""Languages: a contact's preferred language, and news posts and pages in two languages

Revision ID: a1b2c3d4e5f6
Revises: 671ce6d2628b
Create Date: 2026-12-06 20:30:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a1b2c3d4e5f6'
down_revision = '671ce6d2628b'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contact') as batch:
        batch.add_column(sa.Column('preferred_language', sa.String(length=8), nullable=False, server_default='en'))
    for table in ('news_post', 'site_page'):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('language', sa.String(length=8), nullable=False, server_default='en'))
            batch.add_column(sa.Column('translated_title', sa.String(length=200), nullable=False, server_default=''))
            if table == 'news_post':
                batch.add_column(sa.Column('translated_summary', sa.Text(), nullable=False, server_default=''))
            batch.add_column(sa.Column('translated_body_markdown', sa.Text(), nullable=False, server_default=''))
            batch.add_column(sa.Column('translated_body_html', sa.Text(), nullable=False, server_default=''))


def downgrade():
    for table in ('site_page', 'news_post'):
        with op.batch_alter_table(table) as batch:
            batch.drop_column('translated_body_html')
            batch.drop_column('translated_body_markdown')
            if table == 'news_post':
                batch.drop_column('translated_summary')
            batch.drop_column('translated_title')
            batch.drop_column('language')
    with op.batch_alter_table('contact') as batch:
        batch.drop_column('preferred_language')
