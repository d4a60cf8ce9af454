"""The postal network (offices, districts, carriers) and daily route planning."""
