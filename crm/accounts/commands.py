"""`flask crm create-user` and `flask crm totp-code` (the latter for the demo only)."""

from __future__ import annotations

import sys

import click
from flask import current_app
from sqlalchemy import select

from crm.accounts import mfa
from crm.accounts.models import ROLES, User
from crm.accounts.passwords import hash_password, password_problem
from crm.accounts.services import find_user_by_email
from crm.audit.services import record
from crm.cli import crm_cli
from crm.contacts.models import Contact
from crm.contacts.services import EmailAddressError, email_key, normalise_email
from crm.contacts.sources import ContactSource
from crm.extensions import db


def _read_password() -> str:
    """Hidden prompt, asked twice, on a terminal; one line from standard input otherwise."""
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


@crm_cli.command("create-user")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default="member", show_default=True)
@click.option("--first-name", default="", help="Used when a new contact is created.")
@click.option("--last-name", default="")
def create_user_command(email: str, role: str, first_name: str, last_name: str) -> None:
    """Create a sign-in account (staff set up their second factor at first sign-in)."""
    try:
        email = normalise_email(email)
    except EmailAddressError as error:
        raise click.ClickException(str(error)) from error
    if find_user_by_email(email) is not None:
        raise click.ClickException(f"{email} already has an account.")
    password = _read_password()
    problem = password_problem(password)
    if problem:
        raise click.ClickException(problem)
    contact = db.session.scalar(select(Contact).where(Contact.email == email))
    if contact is None:
        contact = Contact(email=email, first_name=first_name, last_name=last_name, source=ContactSource.STAFF)
        db.session.add(contact)
        db.session.flush()
    user = User(contact=contact, role=role, password_hash=hash_password(password))
    db.session.add(user)
    db.session.flush()
    record(
        "user.created",
        actor_label="cli",
        target_type="user",
        target_id=user.id,
        contact_id=contact.id,
        after={"email": email, "role": role},
    )
    db.session.commit()
    click.echo(f"Created {role} account for {email}.")
    if role != "member":
        click.echo("At first sign-in they will set up an authenticator app (second factor).")


@crm_cli.command("totp-code")
@click.argument("email")
def totp_code_command(email: str) -> None:
    """Print the current TOTP code of a demo staff account (refused in production)."""
    if current_app.config.get("ENV_NAME") == "production":
        raise click.ClickException("totp-code is for development and demos only.")
    user = find_user_by_email(email)
    if user is None or not user.totp_enabled or not user.totp_secret:
        raise click.ClickException(f"{email_key(email)} has no authenticator set up.")
    click.echo(mfa.current_code(user.totp_secret))
