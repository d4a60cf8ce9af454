"""The post's network: delivery offices, carrier districts and carriers with their shifts."""
