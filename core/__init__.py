"""Shared plumbing: database, configuration, errors, auth, audit, crypto, jobs, clock, scheduler."""
