"""Planning settings from the app's configuration (core.config.Config.ROUTING_*)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from core.clock import parse_range


@dataclass(frozen=True)
class Settings:
    """Service times, lunch, sorting, the cost of an unpreferred carrier, time limits, OSRM."""

    welfare_service_s: int
    registered_service_s: int
    lunch_window: tuple[int, int]
    sorting_s: int
    preference_cost: int
    time_limit_s: int
    time_limit_max_s: int
    osrm_url: str | None

    @classmethod
    def current(cls) -> Settings:
        """The settings of the running app."""
        config = current_app.config
        return cls(
            welfare_service_s=int(config["ROUTING_WELFARE_SERVICE_S"]),
            registered_service_s=int(config["ROUTING_REGISTERED_SERVICE_S"]),
            lunch_window=parse_range(config["ROUTING_LUNCH_WINDOW"]),
            sorting_s=int(config["ROUTING_SORTING_MINUTES"]) * 60,
            preference_cost=int(config["ROUTING_PREFERENCE_COST_S"]),
            time_limit_s=int(config["ROUTING_PLAN_TIME_LIMIT_S"]),
            time_limit_max_s=int(config["ROUTING_PLAN_TIME_LIMIT_MAX_S"]),
            osrm_url=config["OSRM_URL"],
        )
