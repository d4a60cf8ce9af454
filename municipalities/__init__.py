"""Municipalities (tenants), the household registry and its import; mail in the sub-package."""
