"""Travel-time and distance matrices: great-circle estimates per profile, or an OSRM `/table`.

Points are (lon, lat) as everywhere in the project; durations are whole seconds, distances whole
metres, both as int64 numpy arrays indexed [from][to]. For one pair, core.geo.geodesic_m (geopy)
is exact; the vectorised haversine here is for whole matrices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import requests

# Mean Earth radius (IUGG); the haversine error against the WGS-84 geodesic stays under 0.5 %.
EARTH_RADIUS_M = 6_371_008.8

# What an OSRM table reports as null (no road connection): 10^9 s, about 32 years, so that no
# shift can absorb it, while sums of a few thousand of them still fit in int64.
UNREACHABLE = 1_000_000_000

# Rows per block in haversine_matrix: bounds the float temporaries to a few tens of MB.
_ROW_BLOCK = 512


@dataclass(frozen=True)
class Profile:
    """How a carrier moves: average door-to-door speed and road distance / straight distance."""

    speed_kmh: float
    circuity: float

    @property
    def speed_m_s(self) -> float:
        """Speed in metres per second."""
        return self.speed_kmh / 3.6


# Urban Korean delivery rounds. Speeds are averages between stops, including junctions and
# parking, not cruising speeds: Seoul's average car speed in town is about 20-25 km/h (Seoul
# TOPIS), a carrier's motorbike threads traffic but stops at every block, a van parks slowly.
# Circuity: dense grid plus alleys (foot, motorbike) vs one-way streets and detours (van, car).
PROFILES: dict[str, Profile] = {
    "foot": Profile(speed_kmh=4.5, circuity=1.3),
    "motorbike": Profile(speed_kmh=18.0, circuity=1.35),
    "van": Profile(speed_kmh=20.0, circuity=1.4),
    "car": Profile(speed_kmh=24.0, circuity=1.4),
}


class MatrixError(Exception):
    """A matrix could not be built (unknown profile, routing engine failure)."""


def haversine_matrix(points: Sequence[tuple[float, float]]) -> np.ndarray:
    """Return the great-circle distances in metres between all (lon, lat) points, as floats."""
    coords = np.radians(np.asarray(points, dtype=float).reshape(-1, 2))
    lon, lat = coords[:, 0], coords[:, 1]
    cos_lat = np.cos(lat)
    n = len(coords)
    out = np.empty((n, n), dtype=float)
    for start in range(0, n, _ROW_BLOCK):
        rows = slice(start, min(start + _ROW_BLOCK, n))
        dlat = lat[np.newaxis, :] - lat[rows, np.newaxis]
        dlon = lon[np.newaxis, :] - lon[rows, np.newaxis]
        a = np.sin(dlat / 2) ** 2 + cos_lat[rows, np.newaxis] * cos_lat * np.sin(dlon / 2) ** 2
        out[rows] = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return out


def profile_named(name: str) -> Profile:
    """Return PROFILES[name], or raise MatrixError naming the known profiles."""
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise MatrixError(f"unknown profile {name!r} (known: {known})") from None


def matrices_from_points(
    points: Sequence[tuple[float, float]], profile: str | Profile
) -> tuple[np.ndarray, np.ndarray]:
    """Return (durations in s, distances in m) as int64 matrices estimated for a profile."""
    prof = profile_named(profile) if isinstance(profile, str) else profile
    road_m = haversine_matrix(points) * prof.circuity
    distances = np.rint(road_m).astype(np.int64)
    durations = np.rint(road_m / prof.speed_m_s).astype(np.int64)
    return durations, distances


@dataclass(frozen=True)
class OsrmTable:
    """Client of an OSRM-compatible `/table/v1` endpoint (osrm-routed, Valhalla's OSRM mode)."""

    url: str
    timeout_s: float = 30.0
    # osrm-routed refuses tables above --max-table-size (default 100) sources x destinations,
    # so bigger matrices are fetched block by block.
    block: int = 100

    def matrices(
        self, points: Sequence[tuple[float, float]], profile: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (durations in s, distances in m) as int64; no route gives UNREACHABLE."""
        n = len(points)
        durations = np.empty((n, n), dtype=np.int64)
        distances = np.empty((n, n), dtype=np.int64)
        for s0 in range(0, n, self.block):
            rows = slice(s0, min(s0 + self.block, n))
            for d0 in range(0, n, self.block):
                cols = slice(d0, min(d0 + self.block, n))
                durations[rows, cols], distances[rows, cols] = self._table(
                    points[rows], None if s0 == d0 else points[cols], profile
                )
        return durations, distances

    def _table(
        self,
        sources: Sequence[tuple[float, float]],
        destinations: Sequence[tuple[float, float]] | None,
        profile: str,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One request: sources x destinations (None: the sources themselves)."""
        coords = list(sources) + list(destinations or [])
        params = {"annotations": "duration,distance"}
        if destinations is not None:
            params["sources"] = ";".join(str(i) for i in range(len(sources)))
            params["destinations"] = ";".join(str(i) for i in range(len(sources), len(coords)))
        path = ";".join(f"{lon:.6f},{lat:.6f}" for lon, lat in coords)
        url = f"{self.url.rstrip('/')}/table/v1/{profile}/{path}"
        try:
            response = requests.get(url, params=params, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise MatrixError(f"OSRM table request failed: {exc.__class__.__name__}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or response.status_code != 200 or body.get("code") != "Ok":
            detail = (body.get("message") or body.get("code")) if isinstance(body, dict) else None
            raise MatrixError(
                f"OSRM table request failed: HTTP {response.status_code}"
                + (f" ({detail})" if detail else "")
            )
        shape = (len(sources), len(destinations or sources))
        return _table_values(body, "durations", shape), _table_values(body, "distances", shape)


def _table_values(body: dict, key: str, shape: tuple[int, int]) -> np.ndarray:
    rows = body.get(key)
    if not isinstance(rows, list) or len(rows) != shape[0]:
        raise MatrixError(f"OSRM table answer has no {shape[0]}-row {key!r}")
    try:
        values = np.array(
            [[np.nan if v is None else float(v) for v in row] for row in rows], dtype=float
        )
    except (TypeError, ValueError) as exc:
        raise MatrixError(f"OSRM table answer has non-numeric {key!r}") from exc
    if values.shape != shape:
        raise MatrixError(f"OSRM table answer {key!r} is not {shape[0]} x {shape[1]}")
    return np.where(np.isnan(values), UNREACHABLE, np.rint(values)).astype(np.int64)
