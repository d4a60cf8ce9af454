"""Accounts, roles, passwords, API tokens and staff sessions."""
