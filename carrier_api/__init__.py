"""The carrier app's backend: devices, today's route, visits, surveys, offline sync, push."""
