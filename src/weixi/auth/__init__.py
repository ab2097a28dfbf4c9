"""Accounts, roles, sessions and the audit log of the web app (operational database)."""
