"""Welfare mail: templates, mailings, items and registered numbers, tracking, letters, webhooks."""
