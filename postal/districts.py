"""Parse and validate a GeoJSON upload of carrier districts (pure: no Flask, no database).

Every problem in the upload is reported at once and nothing is ever repaired: a post system
admin fixes the file in their GIS tool and uploads it again.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.errors import GEOSException
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree
from shapely.validation import explain_validity

from core.geo import KOREA_BOUNDS, in_korea
from core.json_input import JsonRefused, loads_bounded
from core.schemas import text_problem

CODE_RE = re.compile(r"[A-Za-z0-9_-]{1,20}")
NAME_MAX = 100
# Overlaps smaller than this are float noise along shared borders, not real double coverage.
OVERLAP_TOLERANCE_M2 = 1.0
# Local equirectangular projection: metres per degree of latitude, and of longitude at the equator.
_M_PER_DEG_LAT = 110_540.0
_M_PER_DEG_LON = 111_320.0
_POLYGONAL = ("Polygon", "MultiPolygon")


@dataclass(frozen=True)
class DistrictShape:
    """One carrier district: its code, display name and (Multi)Polygon in lon/lat."""

    code: str
    name: str
    geometry: BaseGeometry


@dataclass(frozen=True)
class DistrictProblem:
    """One problem in an upload; feature is the 0-based index in "features" (-1: whole file)."""

    feature: int
    code: str | None
    problem: str
    message: str


class DistrictsRejected(Exception):
    """The upload has problems; .problems lists all of them."""

    def __init__(self, problems: list[DistrictProblem]) -> None:
        """Keep the problems and summarise them in the exception message."""
        super().__init__(f"{len(problems)} problem(s) in the districts upload")
        self.problems = problems


def parse_districts(
    data: bytes | str | dict, existing: Iterable[DistrictShape] = ()
) -> list[DistrictShape]:
    """Parse a GeoJSON FeatureCollection (or Feature) of districts; raise DistrictsRejected."""
    features, problem = _features(data)
    if problem is not None:
        raise DistrictsRejected([problem])

    problems: list[DistrictProblem] = []
    parsed: list[tuple[int, str | None, str | None, BaseGeometry | None]] = []
    first_index_of_code: dict[str, int] = {}
    for index, feature in enumerate(features):
        code, name, geometry, found = _check_feature(index, feature)
        problems.extend(found)
        if code is not None:
            if code in first_index_of_code:
                first = first_index_of_code[code]
                problems.append(
                    DistrictProblem(
                        index,
                        code,
                        "code_duplicate",
                        f"구역 코드 '{code}'이(가) 피처 {first}에서 이미 쓰였습니다 "
                        f"(duplicate code '{code}', already used by feature {first})",
                    )
                )
            else:
                first_index_of_code[code] = index
        parsed.append((index, code, name, geometry))

    # An existing district whose code is in the upload is being replaced, so it cannot overlap.
    others = [shape_ for shape_ in existing if shape_.code not in first_index_of_code]
    problems.extend(_overlaps(parsed, others))

    if problems:
        problems.sort(key=lambda p: p.feature)  # stable: per-feature order of the checks is kept
        raise DistrictsRejected(problems)
    return [
        DistrictShape(code=code, name=name, geometry=geometry)
        for _, code, name, geometry in parsed
        if code is not None and name is not None and geometry is not None
    ]


def to_geojson(shapes: Iterable[DistrictShape]) -> dict:
    """Return the districts as a GeoJSON FeatureCollection (the format parse_districts reads)."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": s.code, "name": s.name},
                "geometry": mapping(s.geometry),
            }
            for s in shapes
        ],
    }


def _features(data: bytes | str | dict) -> tuple[list[Any], DistrictProblem | None]:
    """Return the list of features, or the problem that makes the whole file unusable."""
    if isinstance(data, bytes | str):
        try:
            data = loads_bounded(data)
        except JsonRefused as exc:
            return [], _file_problem("not_json", "JSON 형식이 아닙니다", f"not JSON: {exc}")
    if not isinstance(data, dict):
        return [], _file_problem("not_geojson", "GeoJSON 객체가 아닙니다", "not a GeoJSON object")
    kind = data.get("type")
    if kind == "Feature":
        return [data], None
    if kind != "FeatureCollection" or not isinstance(data.get("features"), list):
        return [], _file_problem(
            "not_geojson",
            "GeoJSON FeatureCollection 또는 Feature가 아닙니다",
            "not a GeoJSON FeatureCollection or Feature",
        )
    if not data["features"]:
        return [], _file_problem("no_features", "구역이 하나도 없습니다", "features is empty")
    return data["features"], None


def _file_problem(problem: str, korean: str, english: str) -> DistrictProblem:
    return DistrictProblem(-1, None, problem, f"{korean} ({english})")


def _check_feature(
    index: int, feature: Any
) -> tuple[str | None, str | None, BaseGeometry | None, list[DistrictProblem]]:
    """Validate one feature; return its code, name and geometry (None where invalid)."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        message = "GeoJSON Feature가 아닙니다 (not a GeoJSON Feature)"
        return None, None, None, [DistrictProblem(index, None, "not_feature", message)]
    properties = feature.get("properties")
    if not isinstance(properties, dict):
        properties = {}
    problems: list[DistrictProblem] = []

    code = properties.get("code")
    if code is None or code == "":
        message = "구역 코드(properties.code)가 없습니다 (properties.code is missing)"
        problems.append(DistrictProblem(index, None, "code_missing", message))
        code = None
    elif not isinstance(code, str) or not CODE_RE.fullmatch(code):
        problems.append(
            DistrictProblem(
                index,
                None,
                "code_invalid",
                f"구역 코드 {code!r:.40}는 영문자, 숫자, _, - 1~20자여야 합니다 "
                "(properties.code must be 1-20 characters of A-Z a-z 0-9 _ -)",
            )
        )
        code = None

    name = properties.get("name")
    if name is None or (isinstance(name, str) and not name.strip()):
        message = "구역 이름(properties.name)이 없습니다 (properties.name is missing)"
        problems.append(DistrictProblem(index, code, "name_missing", message))
        name = None
    elif not isinstance(name, str) or len(name) > NAME_MAX:
        problems.append(
            DistrictProblem(
                index,
                code,
                "name_invalid",
                f"구역 이름은 {NAME_MAX}자 이하의 문자열이어야 합니다 "
                f"(properties.name must be a string of at most {NAME_MAX} characters)",
            )
        )
        name = None
    elif (problem := text_problem(name)) is not None:
        problems.append(
            DistrictProblem(index, code, "name_invalid", f"구역 이름(properties.name): {problem}")
        )
        name = None

    geometry, geometry_problems = _check_geometry(feature.get("geometry"))
    problems.extend(
        DistrictProblem(index, code, problem, message) for problem, message in geometry_problems
    )
    return code, name, geometry, problems


def _check_geometry(raw: Any) -> tuple[BaseGeometry | None, list[tuple[str, str]]]:
    """Validate a GeoJSON geometry; return the shapely geometry (if valid) and problems."""
    if raw is None:
        return None, [("geometry_missing", "구역 경계(geometry)가 없습니다 (geometry is missing)")]
    if not isinstance(raw, dict):
        return None, [_unparsable("geometry is not an object")]
    kind = raw.get("type")
    if kind not in _POLYGONAL:
        return None, [
            (
                "geometry_type",
                f"구역 경계는 Polygon 또는 MultiPolygon이어야 합니다: {kind!r:.40} "
                f"(geometry must be a Polygon or MultiPolygon, got {kind!r:.40})",
            )
        ]
    coordinates = raw.get("coordinates")
    if not _is_array(coordinates):
        return None, [_unparsable("coordinates is not an array")]
    polygons = [coordinates] if kind == "Polygon" else coordinates
    if not polygons or any(_is_array(rings) and not rings for rings in polygons):
        return None, [("geometry_empty", "구역 경계가 비어 있습니다 (geometry is empty)")]

    # shapely silently closes open rings and rejects short ones with a bare ValueError, so the
    # ring structure is checked here first, on the raw coordinates.
    ring_problem: str | None = None
    outside: list[tuple[float, float]] = []
    for p, rings in enumerate(polygons):
        if not _is_array(rings):
            return None, [_unparsable(f"polygon {p} is not an array of rings")]
        for r, ring in enumerate(rings):
            where = f"polygon {p}, ring {r}" if kind == "MultiPolygon" else f"ring {r}"
            if not _is_array(ring):
                return None, [_unparsable(f"{where} is not an array of positions")]
            for k, position in enumerate(ring):
                if not _is_position(position):
                    return None, [_unparsable(f"{where}, position {k} is not [lon, lat]")]
                if not in_korea(position[0], position[1]):
                    outside.append((position[0], position[1]))
            if ring_problem is None and len(ring) < 4:
                ring_problem = f"{where}: too few points ({len(ring)} < 4)"
            elif ring_problem is None and list(ring[0]) != list(ring[-1]):
                ring_problem = f"{where}: ring not closed (first position != last position)"

    problems: list[tuple[str, str]] = []
    if ring_problem is not None:
        problems.append(_invalid(ring_problem))
    if outside:
        problems.append(_out_of_bounds(outside))
    if problems:
        return None, problems
    try:
        geometry = shape(raw)
    except (ValueError, TypeError, GEOSException) as exc:
        return None, [_unparsable(str(exc))]
    if geometry.is_empty:
        return None, [("geometry_empty", "구역 경계가 비어 있습니다 (geometry is empty)")]
    if not geometry.is_valid:
        return None, [_invalid(explain_validity(geometry))]
    return geometry, []


def _is_array(value: Any) -> bool:
    # Tuples too: mapping() (and so to_geojson) produces tuples, and they must round-trip.
    return isinstance(value, list | tuple)


def _is_position(value: Any) -> bool:
    """True for [lon, lat] or [lon, lat, altitude] of finite numbers (RFC 7946 §3.1.1)."""
    return (
        _is_array(value)
        and len(value) in (2, 3)
        and all(
            isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c)
            for c in value
        )
    )


def _unparsable(detail: str) -> tuple[str, str]:
    return (
        "geometry_unparsable",
        f"구역 경계 좌표를 읽을 수 없습니다: {detail} (unparsable coordinates: {detail})",
    )


def _invalid(reason: str) -> tuple[str, str]:
    return (
        "geometry_invalid",
        f"구역 경계가 올바른 폴리곤이 아닙니다: {reason} (invalid polygon: {reason})",
    )


def _out_of_bounds(outside: list[tuple[float, float]]) -> tuple[str, str]:
    lon, lat = outside[0]
    korean = f"좌표 {len(outside)}개가 대한민국 범위 밖입니다. 예: [{lon}, {lat}]"
    english = f"{len(outside)} position(s) outside South Korea {KOREA_BOUNDS}, e.g. [{lon}, {lat}]"
    # The most common cause is [lat, lon] order; say so when swapping would fit.
    if all(in_korea(b, a) for a, b in outside):
        korean += " — 좌표 순서가 [위도, 경도]로 뒤바뀐 것 같습니다"
        english += "; the order looks like [lat, lon], GeoJSON is [lon, lat]"
    return "out_of_bounds", f"{korean} ({english})"


def _overlaps(
    parsed: list[tuple[int, str | None, str | None, BaseGeometry | None]],
    others: list[DistrictShape],
) -> list[DistrictProblem]:
    """Report overlaps (area > tolerance) among valid new geometries and with `others`."""
    new = [(index, code, geometry) for index, code, _, geometry in parsed if geometry is not None]
    if not new:
        return []
    geoms = np.array([g for _, _, g in new] + [s.geometry for s in others], dtype=object)
    labels = [code or f"#{index}" for index, code, _ in new] + [s.code for s in others]
    tree = STRtree(geoms)
    a, b = tree.query(geoms[: len(new)], predicate="intersects")
    # Each new/new pair once (a < b); every new/existing pair (b beyond the new ones).
    keep = a < b
    a, b = a[keep], b[keep]
    # Neighbours share borders: drop exact touches before computing any intersection.
    interior = ~shapely.touches(geoms[a], geoms[b])
    a, b = a[interior], b[interior]
    if len(a) == 0:
        return []
    areas = _area_m2(shapely.intersection(geoms[a], geoms[b]))

    problems = []
    for i, j, area in zip(a.tolist(), b.tolist(), areas.tolist(), strict=True):
        if area < OVERLAP_TOLERANCE_M2:
            continue
        if j < len(new):
            # Reported on the later feature of the pair, naming both.
            feature, code = new[j][0], new[j][1]
            what_ko, what_en = f"구역 '{labels[i]}'", f"district '{labels[i]}'"
            mine = labels[j]
        else:
            feature, code = new[i][0], new[i][1]
            what_ko, what_en = f"기존 구역 '{labels[j]}'", f"existing district '{labels[j]}'"
            mine = labels[i]
        problems.append(
            DistrictProblem(
                feature,
                code,
                "overlap",
                f"구역 '{mine}'이(가) {what_ko}와(과) {area:,.0f} m² 겹칩니다 "
                f"(district '{mine}' overlaps {what_en} by {area:,.0f} m²)",
            )
        )
    return problems


def _area_m2(geometries: np.ndarray) -> np.ndarray:
    """Approximate areas in m² of lon/lat geometries (equirectangular at each one's mid-lat)."""
    area_deg2 = shapely.area(geometries)
    bounds = shapely.bounds(geometries)
    mid_lat = np.radians((bounds[:, 1] + bounds[:, 3]) / 2)
    # An empty intersection has NaN bounds; its area is simply zero.
    scale = np.nan_to_num(np.cos(mid_lat)) * _M_PER_DEG_LON * _M_PER_DEG_LAT
    return area_deg2 * scale


def area_m2(geometry: BaseGeometry) -> float:
    """Approximate area in m² of one lon/lat geometry."""
    return float(_area_m2(np.array([geometry], dtype=object))[0])
