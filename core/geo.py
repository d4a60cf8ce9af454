"""Geography helpers: Korea's bounding box, geodesic distance and point-in-district lookup.

Coordinates are (lon, lat) everywhere in this project (GeoJSON order); distances are metres.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from geopy.distance import geodesic
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree

# South Korea including Jeju, Marado, Ulleungdo and Dokdo: min lon, min lat, max lon, max lat.
KOREA_BOUNDS = (124.5, 33.0, 132.0, 38.7)


def in_korea(lon: float, lat: float) -> bool:
    """Return True when (lon, lat) lies inside KOREA_BOUNDS (edges included; NaN is outside)."""
    min_lon, min_lat, max_lon, max_lat = KOREA_BOUNDS
    return min_lon <= lon <= max_lon and min_lat <= lat <= max_lat


def geodesic_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Return the WGS-84 geodesic distance in metres between two (lon, lat) points."""
    # geopy takes (lat, lon); this is the one place in the project that swaps the order.
    return geodesic((a[1], a[0]), (b[1], b[0])).meters


@dataclass(frozen=True)
class DistrictRef:
    """The carrier district (and its delivery office) a point falls in."""

    office_id: int
    district_id: int


class DistrictIndex:
    """Point-in-polygon over carrier districts with a shapely STRtree."""

    def __init__(self, districts: Iterable[tuple[int, int, BaseGeometry]]) -> None:
        """Index (district_id, office_id, polygon or multipolygon) triples."""
        # Sorted by district_id so that "lowest tree index" means "lowest district_id": a point
        # on a shared border then resolves deterministically, whatever the input order.
        rows = sorted(districts, key=lambda row: row[0])
        for district_id, _, geometry in rows:
            if geometry.geom_type not in ("Polygon", "MultiPolygon"):
                raise ValueError(f"district {district_id}: expected a (Multi)Polygon")
        ids = [row[0] for row in rows]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate district_id in DistrictIndex")
        self._refs = [DistrictRef(office_id=row[1], district_id=row[0]) for row in rows]
        # One past the last index means "no district"; the trailing None makes that a lookup.
        self._lookup: list[DistrictRef | None] = [*self._refs, None]
        self._geoms = np.array([row[2] for row in rows], dtype=object)
        # Prepared polygons make the exact point tests fast (GEOS caches their edge index).
        shapely.prepare(self._geoms)
        self._tree = STRtree(self._geoms)

    def __len__(self) -> int:
        """Return the number of indexed districts."""
        return len(self._refs)

    def locate(self, lon: float, lat: float) -> DistrictRef | None:
        """Return the district containing (lon, lat), border points included, or None."""
        return self.locate_many([lon], [lat])[0]

    def locate_many(self, lons: Sequence[float], lats: Sequence[float]) -> list[DistrictRef | None]:
        """Vectorised locate(); a point on a shared border gets the lowest district_id."""
        lon_arr = np.asarray(lons, dtype=float)
        lat_arr = np.asarray(lats, dtype=float)
        if lon_arr.shape != lat_arr.shape or lon_arr.ndim != 1:
            raise ValueError("lons and lats must be 1-D sequences of the same length")
        n = len(lon_arr)
        if not self._refs or n == 0:
            return [None] * n
        points = shapely.points(lon_arr, lat_arr)
        # Bounding-box candidates from the tree, then one vectorised exact test against the
        # prepared polygons; "intersects" (not "within") so border points are found too.
        point_idx, geom_idx = self._tree.query(points)
        hit = shapely.intersects(self._geoms[geom_idx], points[point_idx])
        point_idx, geom_idx = point_idx[hit], geom_idx[hit]
        best = np.full(n, len(self._refs), dtype=np.intp)
        np.minimum.at(best, point_idx, geom_idx)
        lookup = self._lookup
        return [lookup[i] for i in best.tolist()]
