"""Municipalities (tenants), the household registry, mailings and mail items."""
