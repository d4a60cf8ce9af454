"""The fictitious demo district (every name and place invented) and `flask demo`."""
