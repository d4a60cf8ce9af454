"""Background work of the registry: geocoding addresses that came without coordinates."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask, current_app

from core.crypto import blind_index
from core.db import db, transaction
from core.geocoding import Geocoder, GeocoderUnavailable
from core.outbox import MAINTENANCE, DeliveryFailed, Message, register_handler
from core.scheduler import Periodic, register_periodic
from municipalities.models import GeocodeCache, Household
from municipalities.services import GEOCODE_KIND, assign_district
from postal.services import district_index

log = logging.getLogger(__name__)


@dataclass
class GeocodeRun:
    """Counts of one geocoding run."""

    geocoded: int = 0
    not_found: int = 0
    failed: int = 0
    from_cache: int = 0


def _address(road_address: str) -> str:
    return road_address.strip()


def _cache_key(address: str) -> str:
    return blind_index("geocode", address)


BATCH = 500
GEOCODE_EVERY_S = 600


def register_jobs(app: Flask) -> None:
    """Say who geocodes; with a geocoder configured, have the scheduler ask for it too."""
    register_handler(GEOCODE_KIND, geocode_job, queue=MAINTENANCE)
    if app.config["GEOCODER_URL"]:  # also asked for whenever a household needs coordinates
        register_periodic(app, Periodic("geocode", GEOCODE_KIND, every_s=GEOCODE_EVERY_S))


def configured_geocoder() -> Geocoder | None:
    """The geocoder of the configuration (WELFARE_GEOCODER_URL), or None when there is none."""
    config = current_app.config
    if not config.get("GEOCODER_URL"):
        return None
    return Geocoder(
        config["GEOCODER_URL"],
        timeout_s=config["GEOCODER_TIMEOUT_S"],
        min_delay_s=config["GEOCODER_MIN_DELAY_S"],
    )


def geocode_job(message: Message) -> None:
    """Outbox handler: geocode every household waiting for coordinates, a batch at a time; a
    geocoder outage is retried later with backoff."""
    geocoder = configured_geocoder()
    if geocoder is None:
        return
    while True:
        run = geocode_pending(geocoder, BATCH)
        if run.failed:
            raise DeliveryFailed(f"geocoder unavailable: {run.failed} household(s) wait")
        if run.geocoded + run.not_found + run.from_cache < BATCH:
            return


def geocode_pending(geocoder: Geocoder, limit: int = 500) -> GeocodeRun:
    """Geocode households waiting for coordinates; remote calls happen outside any transaction."""
    run = GeocodeRun()
    with transaction():
        pending = db.session.execute(
            sa.select(Household.id, Household.road_address)
            .where(Household.geocode_status == "pending", Household.status == "active")
            .order_by(Household.id)
            .limit(limit)
        ).all()
        keys = {_cache_key(_address(row.road_address)) for row in pending}
        cached = {
            entry.address_key: entry
            for entry in db.session.scalars(
                sa.select(GeocodeCache).where(GeocodeCache.address_key.in_(keys))
            )
        }
    answers: dict[str, tuple[str, float | None, float | None]] = {}
    unavailable = False
    for row in pending:
        address = _address(row.road_address)
        key = _cache_key(address)
        if key in cached:
            entry = cached[key]
            answers[key] = (entry.status, entry.lon, entry.lat)
            run.from_cache += 1
            continue
        if key in answers:
            continue
        if unavailable:
            # The geocoder is down: asking it about every other address (each with its own
            # retries and back-off) would only stretch the outage; the next run asks again.
            answers[key] = ("failed", None, None)
            continue
        try:
            result = geocoder.geocode(address)
        except GeocoderUnavailable as exc:
            log.warning("geocoder unavailable (%s); the rest stays pending", exc)
            answers[key] = ("failed", None, None)
            unavailable = True
            continue
        answers[key] = ("found", result.lon, result.lat) if result else ("not_found", None, None)
    with transaction():
        index = district_index()
        for row in pending:
            key = _cache_key(_address(row.road_address))
            status, lon, lat = answers[key]
            if status != "failed" and key not in cached:
                cached[key] = GeocodeCache(address_key=key, status=status, lon=lon, lat=lat)
                db.session.add(cached[key])
            household = db.session.get(Household, row.id)
            if household is None or household.geocode_status != "pending":
                continue  # changed meanwhile by someone else: their data wins
            if status == "found":
                household.lon, household.lat = lon, lat
                household.geocode_status = "geocoded"
                assign_district(household, index)
                run.geocoded += 1
            elif status == "not_found":
                household.geocode_status = "not_found"
                run.not_found += 1
            else:
                # Left pending: the next run asks again.
                run.failed += 1
    return run
