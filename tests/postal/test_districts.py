"""postal.districts: parsing and validating a carrier districts GeoJSON upload."""

import json
import math

import pytest
from shapely.geometry import box, mapping

from postal.districts import (
    DistrictProblem,
    DistrictShape,
    DistrictsRejected,
    parse_districts,
    to_geojson,
)


def feature(code: object, name: object, geometry: object) -> dict:
    return {"type": "Feature", "properties": {"code": code, "name": name}, "geometry": geometry}


def square(lon: float, lat: float, size: float = 0.01) -> dict:
    """A GeoJSON Polygon square with its south-west corner at (lon, lat)."""
    return dict(mapping(box(lon, lat, lon + size, lat + size)))


def collection(*features: object) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


def rejected(data: object, existing: list[DistrictShape] | None = None) -> list[DistrictProblem]:
    with pytest.raises(DistrictsRejected) as info:
        parse_districts(data, existing or ())
    return info.value.problems


def kinds(problems: list[DistrictProblem]) -> list[tuple[int, str]]:
    return [(p.feature, p.problem) for p in problems]


def m2(deg2: float, lat: float) -> float:
    return deg2 * math.cos(math.radians(lat)) * 111_320 * 110_540


# Two neighbours in Seoul sharing the border lon = 127.01.
A1 = feature("A1", "세종로 1구", square(127.00, 37.50))
B2 = feature("B-2_x", "세종로 2구", square(127.01, 37.50))


def test_valid_collection() -> None:
    shapes = parse_districts(json.dumps(collection(A1, B2)).encode())
    assert [(s.code, s.name) for s in shapes] == [("A1", "세종로 1구"), ("B-2_x", "세종로 2구")]
    assert shapes[0].geometry.equals(box(127.00, 37.50, 127.01, 37.51))
    assert shapes[0].geometry.geom_type == "Polygon"


def test_single_feature_str_and_multipolygon() -> None:
    islands = {
        "type": "MultiPolygon",
        "coordinates": [square(126.50, 33.50)["coordinates"], square(126.60, 33.50)["coordinates"]],
    }
    shapes = parse_districts(json.dumps(feature("JEJU1", "제주 1구", islands)))
    assert len(shapes) == 1 and shapes[0].geometry.geom_type == "MultiPolygon"
    assert shapes[0].geometry.area == pytest.approx(2e-4)


def test_altitude_allowed() -> None:
    ring = [[127.0, 37.5, 10], [127.01, 37.5, 10], [127.01, 37.51, 10], [127.0, 37.5, 10]]
    polygon = {"type": "Polygon", "coordinates": [ring]}
    assert parse_districts(collection(feature("Z1", "고도", polygon)))[0].geometry.has_z


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"{not json", "not_json"),
        ("", "not_json"),
        (b"\xff\xfe\x00garbage", "not_json"),
        ("[" * 100_000, "not_json"),
        ("[1, 2]", "not_geojson"),
        ({"type": "Point", "coordinates": [127, 37.5]}, "not_geojson"),
        ({"type": "FeatureCollection", "features": {}}, "not_geojson"),
        ({"type": "FeatureCollection"}, "not_geojson"),
        (collection(), "no_features"),
    ],
)
def test_whole_file_problems(data: object, problem: str) -> None:
    problems = rejected(data)
    assert kinds(problems) == [(-1, problem)]
    assert problems[0].code is None
    assert "(" in problems[0].message  # Korean first, English in parentheses


def test_every_feature_problem_reported_at_once() -> None:
    bowtie = {
        "type": "Polygon",
        "coordinates": [
            [[127.1, 37.5], [127.11, 37.51], [127.11, 37.5], [127.1, 37.51], [127.1, 37.5]]
        ],
    }
    open_ring = {
        "type": "Polygon",
        "coordinates": [[[127.2, 37.5], [127.21, 37.5], [127.21, 37.51], [127.2, 37.51]]],
    }
    too_few = {"type": "Polygon", "coordinates": [[[127.3, 37.5], [127.31, 37.5], [127.3, 37.5]]]}
    unparsable = {"type": "Polygon", "coordinates": [[["127.4", "37.5"], [127.41, 37.5]]]}
    not_finite = {"type": "Polygon", "coordinates": [[[math.nan, 37.5]] * 4]}
    tokyo = square(139.69, 35.68)
    swapped = {
        "type": "Polygon",
        "coordinates": [[[37.5, 127.0], [37.5, 127.01], [37.51, 127.01], [37.5, 127.0]]],
    }
    half_over_a1 = square(127.005, 37.50)
    problems = rejected(
        collection(
            A1,  # 0: fine
            feature(None, "코드 없음", square(127.5, 37.5)),  # 1
            feature("bad code!", "x" * 101, square(127.6, 37.5)),  # 2
            feature("A1", "중복", square(127.7, 37.5)),  # 3
            feature("G1", "경계 없음", None),  # 4
            feature("G2", "점", {"type": "Point", "coordinates": [127.0, 37.5]}),  # 5
            feature("G3", "문자 좌표", unparsable),  # 6
            feature("G4", "나비", bowtie),  # 7
            feature("G5", "열린 고리", open_ring),  # 8
            feature("G6", "점 부족", too_few),  # 9
            feature("G7", "도쿄", tokyo),  # 10
            feature("G8", "뒤바뀐 좌표", swapped),  # 11
            feature("G9", "빈 경계", {"type": "Polygon", "coordinates": []}),  # 12
            feature("OV", "겹침", half_over_a1),  # 13
            feature("N1", "  ", square(127.8, 37.5)),  # 14
            "not a feature",  # 15
            feature("G10", "NaN", not_finite),  # 16
            {"type": "Feature", "geometry": square(127.9, 37.5)},  # 17: no properties at all
            feature(123, ["list"], {"type": "LineString", "coordinates": [[127, 37], [127.1, 37]]}),
        )
    )
    assert kinds(problems) == [
        (1, "code_missing"),
        (2, "code_invalid"),
        (2, "name_invalid"),
        (3, "code_duplicate"),
        (4, "geometry_missing"),
        (5, "geometry_type"),
        (6, "geometry_unparsable"),
        (7, "geometry_invalid"),
        (8, "geometry_invalid"),
        (9, "geometry_invalid"),
        (10, "out_of_bounds"),
        (11, "out_of_bounds"),
        (12, "geometry_empty"),
        (13, "overlap"),
        (14, "name_missing"),
        (15, "not_feature"),
        (16, "geometry_unparsable"),
        (17, "code_missing"),
        (17, "name_missing"),
        (18, "code_invalid"),
        (18, "name_invalid"),
        (18, "geometry_type"),
    ]
    by_feature = {p.feature: p for p in problems}
    assert by_feature[3].code == "A1" and "feature 0" in by_feature[3].message
    assert by_feature[2].code is None and by_feature[4].code == "G1"
    assert "Self-intersection" in by_feature[7].message
    assert "not closed" in by_feature[8].message
    assert "too few points" in by_feature[9].message
    assert "[lat, lon]" not in by_feature[10].message
    assert "[lat, lon]" in by_feature[11].message  # the swap is spotted and explained
    overlap = by_feature[13]
    assert overlap.code == "OV" and "'A1'" in overlap.message and "'OV'" in overlap.message
    assert f"{m2(0.005 * 0.01, 37.505):,.0f} m²" in overlap.message
    assert all(p.message.endswith(")") and "(" in p.message for p in problems)


def test_touching_neighbours_and_slivers_accepted() -> None:
    # A corner-only touch, and a 1e-9° (~0.1 m²) sliver of floating-point noise.
    corner = feature("C1", "모서리", square(127.02, 37.51))
    sliver = feature("S1", "미세", square(127.02 - 1e-9, 37.50))
    assert len(parse_districts(collection(A1, B2, corner, sliver))) == 4


def test_small_real_overlap_rejected() -> None:
    # 1e-6° of longitude over 0.01° of latitude is ~100 m²: above the 1 m² tolerance.
    overlapping = feature("S1", "미세", square(127.02 - 1e-6, 37.50))
    assert kinds(rejected(collection(A1, B2, overlapping))) == [(2, "overlap")]


def test_containment_is_an_overlap() -> None:
    inner = feature("IN", "안쪽", square(127.002, 37.502, size=0.002))
    problems = rejected(collection(A1, inner))
    assert kinds(problems) == [(1, "overlap")]
    assert f"{m2(0.002 * 0.002, 37.503):,.0f} m²" in problems[0].message


def test_overlap_with_existing() -> None:
    over_a1 = box(127.005, 37.50, 127.015, 37.51)
    other = [DistrictShape("C3", "기존", over_a1)]
    problems = rejected(collection(A1), existing=other)
    assert kinds(problems) == [(0, "overlap")]
    assert "'C3'" in problems[0].message and "'A1'" in problems[0].message
    # The existing district with the same code is being replaced: no overlap.
    assert len(parse_districts(collection(A1), existing=[DistrictShape("A1", "옛", over_a1)])) == 1
    # A touching existing district is fine.
    assert parse_districts(
        collection(A1), [DistrictShape("E1", "동쪽", box(127.01, 37.5, 127.02, 37.51))]
    )


def test_to_geojson_round_trip() -> None:
    shapes = parse_districts(collection(A1, B2))
    exported = to_geojson(shapes)
    assert exported["type"] == "FeatureCollection"
    assert exported["features"][0]["properties"] == {"code": "A1", "name": "세종로 1구"}
    assert parse_districts(exported) == shapes
    assert parse_districts(json.dumps(exported, ensure_ascii=False).encode()) == shapes
