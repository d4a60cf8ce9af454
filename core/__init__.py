"""Shared plumbing: database, configuration, errors, auth, audit, crypto."""
