"""core.geo: Korea bounds, geodesic distance, DistrictIndex."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Point, Polygon, box

from core.geo import KOREA_BOUNDS, DistrictIndex, DistrictRef, geodesic_m, in_korea

SEOUL_CITY_HALL = (126.9780, 37.5665)
BUSAN_CITY_HALL = (129.0756, 35.1796)


@pytest.mark.parametrize(
    ("lon", "lat", "inside"),
    [
        (126.978, 37.5665, True),  # Seoul
        (126.5312, 33.4996, True),  # Jeju
        (126.2669, 33.1140, True),  # Marado, southernmost
        (130.9057, 37.4844, True),  # Ulleungdo
        (131.8666, 37.2393, True),  # Dokdo
        (124.5, 33.0, True),  # corners are inside
        (132.0, 38.7, True),
        (124.4999, 37.0, False),
        (132.0001, 37.0, False),
        (127.0, 32.9999, False),
        (127.0, 38.7001, False),
        (37.5665, 126.978, False),  # [lat, lon] by mistake
        (139.6917, 35.6895, False),  # Tokyo
        (math.nan, 37.0, False),
    ],
)
def test_in_korea(lon: float, lat: float, inside: bool) -> None:
    assert in_korea(lon, lat) is inside


def test_bounds_order() -> None:
    min_lon, min_lat, max_lon, max_lat = KOREA_BOUNDS
    assert min_lon < max_lon and min_lat < max_lat


def test_geodesic_seoul_busan() -> None:
    # Seoul City Hall to Busan City Hall is about 325 km as the crow flies.
    assert geodesic_m(SEOUL_CITY_HALL, BUSAN_CITY_HALL) == pytest.approx(325_000, rel=0.02)
    assert geodesic_m(SEOUL_CITY_HALL, BUSAN_CITY_HALL) == pytest.approx(
        geodesic_m(BUSAN_CITY_HALL, SEOUL_CITY_HALL)
    )


def test_geodesic_zero_and_lon_lat_order() -> None:
    assert geodesic_m(SEOUL_CITY_HALL, SEOUL_CITY_HALL) == 0
    # 0.01° of latitude is ~1.1 km; 0.01° of longitude at 37.5° N only ~0.88 km.
    assert geodesic_m((127.0, 37.5), (127.0, 37.51)) == pytest.approx(1109, rel=0.01)
    assert geodesic_m((127.0, 37.5), (127.01, 37.5)) == pytest.approx(884, rel=0.01)


# Two squares sharing the border lon = 127.01, listed highest id first on purpose.
WEST = box(127.00, 37.50, 127.01, 37.51)
EAST = box(127.01, 37.50, 127.02, 37.51)
# District 30 of office 2: two islands.
ISLANDS = MultiPolygon([box(127.10, 37.50, 127.11, 37.51), box(127.20, 37.50, 127.21, 37.51)])
# District 40: a square with a hole (the hole is nobody's).
WITH_HOLE = Polygon(
    [(127.30, 37.50), (127.33, 37.50), (127.33, 37.53), (127.30, 37.53)],
    [[(127.31, 37.51), (127.32, 37.51), (127.32, 37.52), (127.31, 37.52)]],
)


@pytest.fixture(scope="module")
def index() -> DistrictIndex:
    return DistrictIndex([(20, 1, EAST), (10, 1, WEST), (30, 2, ISLANDS), (40, 2, WITH_HOLE)])


def test_locate_inside_outside(index: DistrictIndex) -> None:
    assert len(index) == 4
    assert index.locate(127.005, 37.505) == DistrictRef(office_id=1, district_id=10)
    assert index.locate(127.015, 37.505) == DistrictRef(office_id=1, district_id=20)
    assert index.locate(127.05, 37.505) is None
    assert index.locate(127.005, 37.52) is None


def test_locate_border_is_deterministic(index: DistrictIndex) -> None:
    # On the shared border both districts match: the lowest district_id wins, whatever order.
    assert index.locate(127.01, 37.505).district_id == 10
    reversed_index = DistrictIndex([(10, 1, WEST), (20, 1, EAST)])
    assert reversed_index.locate(127.01, 37.505).district_id == 10
    # Outer boundary points belong to the district.
    assert index.locate(127.02, 37.505).district_id == 20
    assert index.locate(127.00, 37.50).district_id == 10


def test_locate_multipolygon_and_hole(index: DistrictIndex) -> None:
    assert index.locate(127.105, 37.505) == DistrictRef(office_id=2, district_id=30)
    assert index.locate(127.205, 37.505) == DistrictRef(office_id=2, district_id=30)
    assert index.locate(127.15, 37.505) is None  # between the islands
    assert index.locate(127.305, 37.505).district_id == 40
    assert index.locate(127.315, 37.515) is None  # in the hole


def test_locate_many_matches_examples(index: DistrictIndex) -> None:
    lons = [127.005, 127.01, 127.205, 127.315, 0.0]
    lats = [37.505, 37.505, 37.505, 37.515, 0.0]
    assert [r and r.district_id for r in index.locate_many(lons, lats)] == [10, 10, 30, None, None]
    assert index.locate_many([], []) == []


def test_locate_many_rejects_mismatched_lengths(index: DistrictIndex) -> None:
    with pytest.raises(ValueError):
        index.locate_many([127.0, 127.1], [37.5])


def test_empty_index() -> None:
    empty = DistrictIndex([])
    assert len(empty) == 0
    assert empty.locate(127.0, 37.5) is None
    assert empty.locate_many([127.0, 128.0], [37.5, 36.0]) == [None, None]


def test_index_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        DistrictIndex([(1, 1, WEST), (1, 1, EAST)])
    with pytest.raises(ValueError):
        DistrictIndex([(1, 1, WEST.boundary)])


# Points on a 0.005° lattice land exactly on borders and corners; others are in the open.
_coord = st.one_of(
    st.floats(min_value=126.99, max_value=127.35, allow_nan=False),
    st.integers(min_value=0, max_value=70).map(lambda k: 127.0 + k * 0.005),
)
_lat = st.one_of(
    st.floats(min_value=37.49, max_value=37.54, allow_nan=False),
    st.integers(min_value=0, max_value=6).map(lambda k: 37.5 + k * 0.005),
)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(_coord, _lat), max_size=50))
def test_locate_many_equals_locate(index: DistrictIndex, points: list[tuple[float, float]]) -> None:
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    found = index.locate_many(lons, lats)
    assert found == [index.locate(lon, lat) for lon, lat in points]
    # locate() shares the vectorised path, so also check against a brute-force reference.
    assert [r and r.district_id for r in found] == [_brute_force(lon, lat) for lon, lat in points]


def _brute_force(lon: float, lat: float) -> int | None:
    point = Point(lon, lat)
    ids = [
        i
        for i, g in ((10, WEST), (20, EAST), (30, ISLANDS), (40, WITH_HOLE))
        if g.intersects(point)
    ]
    return min(ids, default=None)
