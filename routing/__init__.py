"""Daily route planning: office items, plans and the dispatcher's workflow, the VRP engine."""
