"""WSGI entry point: `gunicorn wsgi:app`; `flask --app wsgi crm ...` runs every CLI command."""

from crm import create_app

app = create_app()
