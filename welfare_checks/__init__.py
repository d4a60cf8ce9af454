"""Closing the loop for welfare teams: survey forms and triage, alerts, follow-up cases."""
