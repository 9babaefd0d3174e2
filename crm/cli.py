"""`flask --app wsgi crm ...`: the CLI group; each domain adds its commands in commands.py."""

from __future__ import annotations

import importlib

from flask.cli import AppGroup

crm_cli = AppGroup("crm", help="Membership CRM commands.")

#: Modules that register commands on `crm_cli` when imported.
COMMAND_MODULES = (
    "crm.demo",
    "crm.accounts.commands",
    "crm.billing.commands",
    "crm.memberships.commands",
    "crm.email.commands",
    "crm.jobs.commands",
    "crm.staff.commands",
    "crm.staff.import_commands",
    "crm.core.commands",
    "crm.campaigns.commands",
)

for _name in COMMAND_MODULES:
    importlib.import_module(_name)
