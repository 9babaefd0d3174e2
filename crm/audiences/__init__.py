"""Saved audiences: a named filter over contacts, kept as validated JSON and re-run when used."""
