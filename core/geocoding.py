"""Address → coordinates through a (self-hosted) Nominatim server; for background jobs only."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from geopy import exc as geopy_exc
from geopy.extra.rate_limiter import RateLimiter
from geopy.geocoders import Nominatim
from geopy.location import Location
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from core.geo import in_korea

log = logging.getLogger(__name__)
_QUERY_RE = re.compile(r"\?[^\s'\"]*")


@dataclass(frozen=True)
class GeocodeResult:
    """A geocoded address: position (lon, lat) and the geocoder's display name."""

    lon: float
    lat: float
    display: str


class GeocoderUnavailable(Exception):
    """The geocoder could not be reached or kept failing; the job should try again later."""


def _transient(error: BaseException) -> bool:
    """True for failures worth retrying: timeouts, 503/504, connection errors, 429, other 5xx."""
    if isinstance(
        error,
        geopy_exc.GeocoderTimedOut | geopy_exc.GeocoderUnavailable | geopy_exc.GeocoderRateLimited,
    ):
        return True
    # geopy raises the base class itself for HTTP statuses it has no subclass for (500, 502...);
    # its subclasses (400 query error, 401/403 auth, parse error) will not heal by retrying.
    return type(error) is geopy_exc.GeocoderServiceError


def _redacted(error: BaseException | None) -> str:
    """The error's type and message with URL query strings (the address) cut out."""
    return f"{type(error).__name__}: {_QUERY_RE.sub('?…', str(error))}"


class Geocoder:
    """Nominatim client limited to Korea, rate-limited, with bounded retries."""

    def __init__(
        self,
        url: str,
        timeout_s: float = 10.0,
        min_delay_s: float = 1.0,
        user_agent: str = "welfare-post",
        *,
        attempts: int = 3,
        backoff_s: float = 1.0,
    ) -> None:
        """Build a client for the Nominatim at url, e.g. "http://127.0.0.1:8080"."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"geocoder URL must be http(s)://host[:port][/path], got {url!r}")
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self._attempts = attempts
        self._nominatim = Nominatim(
            domain=parts.netloc + parts.path.rstrip("/"),
            scheme=parts.scheme,
            timeout=timeout_s,
            user_agent=user_agent,
            # The server is self-hosted inside the network: an HTTP(S)_PROXY meant for outbound
            # internet traffic must not capture these calls.
            proxies={},
        )
        # Retries are tenacity's job below, so the limiter only spaces calls and re-raises; every
        # attempt (retries included) goes through it, so min_delay_s holds for all requests.
        self._rate_limited = RateLimiter(
            self._nominatim.geocode,
            min_delay_seconds=min_delay_s,
            max_retries=0,
            error_wait_seconds=min_delay_s,
            swallow_exceptions=False,
        )
        self._retrying = Retrying(
            retry=retry_if_exception(_transient),
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=backoff_s, max=backoff_s * 8),
            reraise=False,
        )

    def geocode(self, address: str) -> GeocodeResult | None:
        """Return the position of address in Korea, None if not found; may raise Unavailable."""
        query = address.strip()
        if not query:
            return None
        try:
            location: Location | None = self._retrying(
                self._rate_limited, query, exactly_one=True, country_codes="kr", language="ko"
            )
        # "from None" and _redacted(): geopy's messages and causes carry the request URL, i.e.
        # a household's address, which must not end up in job logs.
        except RetryError as exc:
            last = exc.last_attempt.exception()
            raise GeocoderUnavailable(
                f"geocoder failed {self._attempts} times: {_redacted(last)}"
            ) from None
        except geopy_exc.GeopyError as exc:
            raise GeocoderUnavailable(f"geocoder refused the request: {_redacted(exc)}") from None
        if location is None:
            return None
        if not in_korea(location.longitude, location.latitude):
            log.info("geocoder result outside Korea ignored")
            return None
        return GeocodeResult(
            lon=location.longitude, lat=location.latitude, display=location.address
        )
