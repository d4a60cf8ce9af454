"""Tests of the seeded demo-data generator (pure: no app, no database)."""

import itertools
import math
import re

import phonenumbers
import pytest
import shapely
from shapely.geometry import Polygon

from core.geo import in_korea
from demo.world import CENTRE, DemoWorld, district_outline, generate_households, generate_world
from municipalities.vocabulary import HOUSEHOLD_TYPES, RISK_SOURCES

SEEDS = (2026, 7, 12345)
ROAD_ADDRESS = re.compile(r"^서울특별시 가온구 [가-힣]+(대로|로)(\d+길)? [1-9]\d*(-[1-9]\d*)?$")


def area_m2(geometry: shapely.Geometry) -> float:
    """Area in m² under a local equirectangular projection centred on the demo gu."""
    lon0, lat0 = CENTRE
    metres_per_degree = math.pi / 180 * 6_371_008.8
    scale = (metres_per_degree * math.cos(math.radians(lat0)), metres_per_degree)
    return shapely.transform(geometry, lambda c: (c - (lon0, lat0)) * scale).area


def unique_key(name: str, road_address: str, detail: str | None) -> str:
    """The registry's duplicate key: name + address + detail, spaces and case ignored."""
    return "".join(f"{name}|{road_address}|{detail or ''}".split()).casefold()


@pytest.fixture(scope="module")
def world() -> DemoWorld:
    return generate_world()


def test_same_seed_same_world_and_other_seed_other_world(world: DemoWorld) -> None:
    again = generate_world()
    assert again == world
    other = generate_world(seed=7)
    assert other.households != world.households
    assert [d.geometry for d in other.districts] != [d.geometry for d in world.districts]
    assert list(generate_households(50, 3)) == list(generate_households(50, 3))


def test_world_has_the_requested_sizes(world: DemoWorld) -> None:
    assert (len(world.districts), len(world.carriers), len(world.households)) == (9, 10, 500)
    assert world.municipality.code == "11999"
    assert re.fullmatch(r"\d{5}", world.municipality.code)


@pytest.mark.parametrize("seed", SEEDS)
def test_outline_is_a_seoul_sized_irregular_gu(seed: int) -> None:
    outline = district_outline(seed)
    assert outline.is_valid and isinstance(outline, Polygon)
    assert 25e6 <= area_m2(outline) <= 35e6
    assert len(outline.exterior.coords) - 1 >= 20
    # Irregular, not a rectangle: it fills clearly less of its bounding box.
    assert outline.area / outline.envelope.area < 0.9
    assert abs(outline.centroid.x - CENTRE[0]) < 0.01 and abs(outline.centroid.y - CENTRE[1]) < 0.01


@pytest.mark.parametrize(("seed", "count"), list(itertools.product(SEEDS, (8, 9, 10))))
def test_districts_tile_the_outline(seed: int, count: int) -> None:
    world = generate_world(seed=seed, households=0, districts=count, carriers=count)
    outline = district_outline(seed)
    geometries = [d.geometry for d in world.districts]
    assert len(geometries) == count
    assert all(isinstance(g, Polygon) and g.is_valid and not g.is_empty for g in geometries)
    assert shapely.coverage_is_valid(geometries)
    for a, b in itertools.combinations(geometries, 2):
        assert area_m2(a.intersection(b)) < 1e-6
    union = shapely.union_all(geometries)
    assert abs(area_m2(union) - area_m2(outline)) / area_m2(outline) < 1e-3
    assert area_m2(union.symmetric_difference(outline)) / area_m2(outline) < 1e-3
    # Lloyd relaxation keeps the districts comparable in size.
    areas = [area_m2(g) for g in geometries]
    assert max(areas) / min(areas) < 3
    assert len({d.code for d in world.districts}) == count


def test_district_codes_and_names(world: DemoWorld) -> None:
    assert [d.code for d in world.districts] == [f"GAON-{i:02d}" for i in range(1, 10)]
    assert [d.name for d in world.districts] == [f"가온 {i}구역" for i in range(1, 10)]


def test_office_depot_is_inside_near_the_centre(world: DemoWorld) -> None:
    office = world.office
    outline = district_outline()
    lon, lat = office.depot
    assert shapely.contains_xy(outline, lon, lat)
    assert math.dist((lon, lat), (outline.centroid.x, outline.centroid.y)) < 0.005
    assert office.name.endswith("우체국")
    assert ROAD_ADDRESS.fullmatch(office.road_address)
    assert re.fullmatch(r"06\d{3}", office.postal_code)


def test_every_district_has_a_carrier(world: DemoWorld) -> None:
    carriers = world.carriers
    assert {c.home_district for c in carriers} == {d.code for d in world.districts}
    assert [c.username for c in carriers] == [f"carrier{i:02d}" for i in range(1, 11)]
    assert len({c.employee_no for c in carriers}) == len(carriers)
    assert len({c.display_name for c in carriers}) == len(carriers)
    assert all(re.fullmatch(r"[가-힣]{3}", c.display_name) for c in carriers)
    assert all(re.fullmatch(r"\d{8}", c.employee_no) for c in carriers)


def test_too_few_carriers_or_bad_sizes_are_rejected() -> None:
    with pytest.raises(ValueError):
        generate_world(districts=9, carriers=8)
    with pytest.raises(ValueError):
        generate_world(households=-1)
    with pytest.raises(ValueError):
        next(generate_households(-1, 1))


def test_households_lie_in_a_district_in_korea(world: DemoWorld) -> None:
    geometries = [d.geometry for d in world.districts]
    for h in world.households:
        assert in_korea(h.lon, h.lat)
        assert sum(bool(shapely.contains_xy(g, h.lon, h.lat)) for g in geometries) == 1
    # Spread over the whole gu, not bunched in one district.
    per_district = [
        sum(bool(shapely.contains_xy(g, h.lon, h.lat)) for h in world.households)
        for g in geometries
    ]
    assert min(per_district) > 0


def test_household_fields_are_plausible(world: DemoWorld) -> None:
    for h in world.households:
        assert re.fullmatch(r"[가-힣]{3}", h.name)
        assert ROAD_ADDRESS.fullmatch(h.road_address), h.road_address
        assert h.address_detail is None or h.address_detail.strip() == h.address_detail != ""
        assert re.fullmatch(r"06\d{3}", h.postal_code)
        assert h.household_type in HOUSEHOLD_TYPES
        assert 1 <= len(h.risk_sources) <= 3
        assert len(set(h.risk_sources)) == len(h.risk_sources)
        assert set(h.risk_sources) <= set(RISK_SOURCES)
        assert h.note is None or re.fullmatch(r"[가-힣0-9 ]+", h.note)
    # The optional fields are sometimes filled and sometimes not.
    for field in ("address_detail", "phone", "note"):
        values = [getattr(h, field) for h in world.households]
        assert any(v is None for v in values) and any(v is not None for v in values)
    # Surnames follow their frequency: 김 and 이 lead.
    surnames = [h.name[0] for h in world.households]
    assert surnames.count("김") > surnames.count("이") > surnames.count("최")


def test_phones_are_valid_korean_numbers(world: DemoWorld) -> None:
    phones = [h.phone for h in world.households if h.phone is not None]
    assert any(p.startswith("010-") for p in phones) and any(p.startswith("02-") for p in phones)
    for phone in phones:
        assert re.fullmatch(r"010-\d{4}-\d{4}|02-\d{3}-\d{4}", phone)
        assert phonenumbers.is_valid_number(phonenumbers.parse(phone, "KR")), phone


def test_world_households_are_unique(world: DemoWorld) -> None:
    keys = {unique_key(h.name, h.road_address, h.address_detail) for h in world.households}
    assert len(keys) == len(world.households)


def test_100k_streamed_households_are_unique() -> None:
    keys = set()
    count = 0
    for h in generate_households(100_000, 99):
        keys.add(unique_key(h.name, h.road_address, h.address_detail))
        count += 1
    assert count == len(keys) == 100_000


def test_streamed_households_fill_a_given_area() -> None:
    area = shapely.box(129.0, 35.1, 129.02, 35.12).difference(
        shapely.box(129.0, 35.1, 129.01, 35.11)
    )
    households = list(generate_households(2_000, 5, area=area))
    assert len(households) == 2_000
    assert all(shapely.contains_xy(area, h.lon, h.lat) for h in households)
    assert len({unique_key(h.name, h.road_address, h.address_detail) for h in households}) == 2_000
