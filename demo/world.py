"""Seeded generator of realistic, fictitious demo data: one urban gu, its delivery office, carrier
districts, carriers and at-risk households (pure: no Flask, no database).

Every name, address, phone number and place here is invented; the same seed always gives the same
world. Coordinates are (lon, lat); lengths are metres.
"""

import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from municipalities.vocabulary import RISK_SOURCES

CENTRE = (127.02, 37.52)
OFFICE_CODE = "119990"
MUNICIPALITY_CODE = "11999"  # Seoul's codes start with 11; 999 is not a real gu.
MUNICIPALITY_NAME = "서울특별시 가온구"
DISTRICT_PREFIX = ("GAON", "가온")

_METRES_PER_DEGREE = math.radians(1.0) * 6_371_008.8  # along a meridian, mean Earth radius
# Snap-rounding grid (degrees, ~0.1 mm) for the district tiling: one noded line arrangement on a
# fixed grid makes neighbouring districts share bit-identical borders.
_TILING_GRID = 1e-9
_LLOYD_ROUNDS = 8
_OUTLINE_VERTICES = 24
_OUTLINE_AREA_M2 = (27e6, 33e6)
_COORD_DECIMALS = 6  # ~0.1 m, what an import file or a GPS fix would carry
_BATCH = 10_000

_ROAD_NAMES = (
    "가온대로", "누리대로", "한빛대로", "미리내대로", "희망로", "새싹로", "다솜로", "햇살로",
    "별빛로", "아름로", "푸른숲로", "은행나무로", "소나무로", "느티나무로", "꽃마을로", "샘터로",
    "바람개비로", "도담로", "이음로", "온누리로", "한울로", "새벽로", "노을로", "마루로",
    "하늬로", "가람로", "나래로", "다온로", "보람로", "솔빛로", "여울로", "윤슬로",
    "들꽃로", "모란로", "청솔로", "어울림로", "꿈나무로", "두레로", "해오름로", "달빛로",
)  # fmt: skip

# Surnames with their approximate share (%) of the population (2015 census).
_SURNAMES = (
    ("김", 21.5), ("이", 14.7), ("박", 8.4), ("최", 4.7), ("정", 4.3), ("강", 2.3), ("조", 2.1),
    ("윤", 2.1), ("장", 2.0), ("임", 1.7), ("한", 1.5), ("오", 1.5), ("서", 1.5), ("신", 1.4),
    ("권", 1.4), ("황", 1.4), ("안", 1.4), ("송", 1.3), ("전", 1.1), ("홍", 1.1), ("유", 1.0),
    ("고", 0.9), ("문", 0.9), ("양", 0.9), ("손", 0.9), ("배", 0.8), ("백", 0.7), ("허", 0.6),
    ("남", 0.5), ("심", 0.5), ("노", 0.4), ("하", 0.4), ("곽", 0.4), ("성", 0.4), ("차", 0.4),
    ("주", 0.4), ("우", 0.4), ("구", 0.4), ("민", 0.3), ("류", 0.3),
)  # fmt: skip
_SURNAME_CUMULATIVE = list(itertools.accumulate(share for _, share in _SURNAMES))

# Given names typical of each generation, so a single elderly household gets an elderly name.
_OLDER_NAMES = (
    "순자", "영자", "정자", "옥순", "말순", "순덕", "복순", "영숙", "정숙", "명숙", "춘자", "경자",
    "옥자", "금순", "영순", "점순", "순옥", "분례", "영수", "영호", "영철", "정수", "상철", "종수",
    "병철", "만수", "재석", "춘식", "광수", "용수", "기남", "판석", "덕수", "봉출", "길남", "영길",
)  # fmt: skip
_MIDDLE_NAMES = (
    "성호", "정훈", "상훈", "영민", "성민", "준호", "재훈", "민수", "동현", "성진", "경수", "현철",
    "진우", "승호", "기현", "태호", "은주", "미경", "현정", "지영", "은정", "선영", "미숙", "경희",
    "혜진", "수진", "현주", "정민", "미영", "은영", "윤희", "소영", "지현", "진희", "선미", "혜경",
)  # fmt: skip
_YOUNGER_NAMES = (
    "민준", "서준", "도윤", "지호", "예준", "주원", "현우", "지훈", "건우", "우진", "시우", "승민",
    "준영", "태윤", "동건", "서연", "지우", "하은", "민서", "수빈", "지민", "유진", "예은", "서현",
    "윤서", "채원", "다은", "소연", "가영", "나연", "하린", "예린", "수아", "지아", "은비", "혜원",
)  # fmt: skip

_HOUSEHOLD_TYPE_WEIGHTS = {
    "single_elderly": 38,
    "single_middle_aged": 20,
    "elderly_couple": 10,
    "disabled_member": 9,
    "single_young": 8,
    "single_parent": 6,
    "grandparent_grandchild": 4,
    "other": 5,
}
# Which generations' names the addressee of each household type is drawn from.
_NAME_POOLS = {
    "single_elderly": (_OLDER_NAMES,),
    "elderly_couple": (_OLDER_NAMES,),
    "grandparent_grandchild": (_OLDER_NAMES,),
    "single_middle_aged": (_MIDDLE_NAMES,),
    "single_parent": (_MIDDLE_NAMES, _YOUNGER_NAMES),
    "disabled_member": (_OLDER_NAMES, _MIDDLE_NAMES),
    "single_young": (_YOUNGER_NAMES,),
    "other": (_OLDER_NAMES, _MIDDLE_NAMES, _YOUNGER_NAMES),
}
_RISK_WEIGHTS = {
    "electricity_arrears": 20,
    "water_arrears": 14,
    "gas_arrears": 14,
    "health_insurance_arrears": 22,
    "blind_spot_flag": 18,
    "unreachable_resident": 8,
    "other": 4,
}
_RISK_COUNT_WEIGHTS = (55, 33, 12)  # one, two or three risk sources
_NOTES = (
    "낮 시간 부재가 잦음",
    "청각이 약해 문을 두드려야 함",
    "거동이 불편해 응답이 늦음",
    "오전 방문을 선호함",
    "초인종이 고장 나 있음",
    "마당에 개가 있어 주의",
    "우편함에 고지서가 쌓여 있음",
    "야간 근무로 오후 늦게 재방문 요망",
    "옆집 주민이 자주 안부를 살핌",
    "기억력이 많이 떨어짐",
    "보청기를 사용함",
    "한국어가 서툴러 천천히 설명 필요",
    "계단이 가파르고 조명이 어두움",
    "자녀와 연락이 끊김",
    "방문 전 전화 요망",
    "공동현관 호출 후 한참 기다려야 함",
    "휴대전화를 자주 꺼 둠",
    "겨울철 난방을 하지 않는다고 함",
)
_NOTE_SHARE = 0.3


@dataclass(frozen=True)
class DemoMunicipality:
    """The fictitious municipality (tenant) of the demo, with the sender identity of its letters."""

    code: str
    name: str
    department: str
    road_address: str
    postal_code: str
    phone: str
    contact_person: str


@dataclass(frozen=True)
class DemoOffice:
    """The delivery office; depot is (lon, lat)."""

    code: str
    name: str
    road_address: str
    postal_code: str
    depot: tuple[float, float]


@dataclass(frozen=True)
class DemoDistrictArea:
    """One carrier district: a polygon in (lon, lat)."""

    code: str
    name: str
    geometry: Polygon


@dataclass(frozen=True)
class DemoCarrier:
    """A carrier account with the district the carrier usually serves."""

    username: str
    display_name: str
    employee_no: str
    home_district: str


@dataclass(frozen=True)
class DemoHousehold:
    """An at-risk household as a municipality would register it."""

    name: str
    road_address: str
    address_detail: str | None
    postal_code: str
    phone: str | None
    lon: float
    lat: float
    household_type: str
    risk_sources: list[str]
    note: str | None


@dataclass(frozen=True)
class DemoWorld:
    """Everything the demo needs, generated from one seed."""

    municipality: DemoMunicipality
    office: DemoOffice
    districts: list[DemoDistrictArea]
    carriers: list[DemoCarrier]
    households: list[DemoHousehold]


def generate_world(
    seed: int = 2026, households: int = 500, districts: int = 9, carriers: int = 10
) -> DemoWorld:
    """Generate a complete demo world: gu, delivery office, districts, carriers, households."""
    if households < 0 or districts < 1 or carriers < districts:
        raise ValueError("need households >= 0, districts >= 1 and carriers >= districts")
    outline = district_outline(seed)
    areas = _carrier_districts(random.Random(f"{seed}:districts"), outline, districts)
    streets = _Streets(random.Random(f"{seed}:streets"), outline)
    depot = _depot(random.Random(f"{seed}:office"), outline)
    road, postal_code = streets.locate(np.array([depot[0]]), np.array([depot[1]]))[0]
    hall_road, hall_postal_code = streets.locate(np.array([CENTRE[0]]), np.array([CENTRE[1]]))[0]
    municipality = DemoMunicipality(
        code=MUNICIPALITY_CODE,
        name=MUNICIPALITY_NAME,
        department="복지정책과 희망복지지원팀",
        road_address=f"{MUNICIPALITY_NAME} {hall_road}",
        postal_code=hall_postal_code,
        phone="02-2100-1234",
        contact_person="한지은 주무관",  # the demo's social worker gaon.sw1
    )
    office = DemoOffice(
        code=OFFICE_CODE,
        name="가온우체국",
        road_address=f"{MUNICIPALITY_NAME} {road}",
        postal_code=postal_code,
        depot=depot,
    )
    # Sampling in the union of the districts (not the raw outline) puts every household inside
    # a district, even near the outline where the tiling was snapped to its grid.
    covered = shapely.union_all([area.geometry for area in areas], grid_size=_TILING_GRID)
    return DemoWorld(
        municipality=municipality,
        office=office,
        districts=areas,
        carriers=_carriers(random.Random(f"{seed}:carriers"), areas, carriers),
        households=list(_households(households, seed, covered, streets)),
    )


def generate_households(
    count: int, seed: int, area: Polygon | None = None
) -> Iterator[DemoHousehold]:
    """Stream `count` unique households placed uniformly in `area` (default: the demo gu)."""
    if count < 0:
        raise ValueError("count must be >= 0")
    region = district_outline(seed) if area is None else area
    return _households(count, seed, region, _Streets(random.Random(f"{seed}:streets"), region))


def district_outline(seed: int = 2026) -> Polygon:
    """The demo gu's outline: a smooth, irregular polygon of 27-33 km² around CENTRE."""
    rng = random.Random(f"{seed}:outline")
    # A few low harmonics give a smooth, gu-like boundary; the small per-vertex jitter keeps it
    # from looking drawn with a compass.
    harmonics = [(k, rng.uniform(0.03, 0.06), rng.uniform(0, 2 * math.pi)) for k in (2, 3, 4, 5)]
    xy = []
    for i in range(_OUTLINE_VERTICES):
        angle = 2 * math.pi * i / _OUTLINE_VERTICES
        radius = 1 + sum(a * math.cos(k * angle + phase) for k, a, phase in harmonics)
        radius = min(1.15, max(0.85, radius + rng.uniform(-0.03, 0.03)))
        xy.append((radius * math.cos(angle), radius * math.sin(angle)))
    unit = Polygon(xy)
    scale = math.sqrt(rng.uniform(*_OUTLINE_AREA_M2) / unit.area)
    frame = _Frame(*CENTRE)
    return frame.geometry_to_lonlat(affinity.scale(unit, scale, scale, origin=(0, 0)))


@dataclass(frozen=True)
class _Frame:
    """A local equirectangular projection: metres east and north of (lon0, lat0)."""

    lon0: float
    lat0: float

    @property
    def _metres_per_degree_lon(self) -> float:
        return _METRES_PER_DEGREE * math.cos(math.radians(self.lat0))

    def to_metres(self, lons: np.ndarray, lats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project (lon, lat) arrays to (x, y) metres."""
        return (
            (lons - self.lon0) * self._metres_per_degree_lon,
            (lats - self.lat0) * _METRES_PER_DEGREE,
        )

    def geometry_to_metres(self, geometry: BaseGeometry) -> BaseGeometry:
        """Project a (lon, lat) geometry (or array of them) to metres."""
        return shapely.transform(
            geometry, lambda c: np.column_stack(self.to_metres(c[:, 0], c[:, 1]))
        )

    def geometry_to_lonlat(self, geometry: BaseGeometry) -> BaseGeometry:
        """Unproject a metre geometry (or array of them) to (lon, lat)."""
        return shapely.transform(
            geometry,
            lambda c: np.column_stack(
                (
                    self.lon0 + c[:, 0] / self._metres_per_degree_lon,
                    self.lat0 + c[:, 1] / _METRES_PER_DEGREE,
                )
            ),
        )


def _frame_for(region: BaseGeometry) -> _Frame:
    centre = region.centroid
    return _Frame(centre.x, centre.y)


def _sample_points(
    rng: random.Random, region: BaseGeometry, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform (lon, lat) points in `region`, rounded to _COORD_DECIMALS, by rejection sampling."""
    min_x, min_y, max_x, max_y = region.bounds
    shapely.prepare(region)
    acceptance = max(region.area / ((max_x - min_x) * (max_y - min_y)), 0.01)
    lons: list[np.ndarray] = []
    lats: list[np.ndarray] = []
    found = 0
    while found < count:
        draws = int((count - found) / acceptance * 1.1) + 16
        # Python's Random (not numpy's generator) is the only source of randomness, so the
        # sequence is the same on every platform and numpy version.
        xs = np.array([rng.random() for _ in range(draws)]) * (max_x - min_x) + min_x
        ys = np.array([rng.random() for _ in range(draws)]) * (max_y - min_y) + min_y
        # Round before the test so that the stored coordinates are the ones found inside.
        xs, ys = np.round(xs, _COORD_DECIMALS), np.round(ys, _COORD_DECIMALS)
        inside = shapely.contains_xy(region, xs, ys)
        lons.append(xs[inside])
        lats.append(ys[inside])
        found += int(inside.sum())
    return np.concatenate(lons)[:count], np.concatenate(lats)[:count]


def _carrier_districts(rng: random.Random, outline: Polygon, count: int) -> list[DemoDistrictArea]:
    """Tile the outline with `count` single-polygon districts of similar size."""
    frame = _frame_for(outline)
    outline_m = frame.geometry_to_metres(outline)
    while True:
        lons, lats = _sample_points(rng, outline, count)
        seeds = np.column_stack(frame.to_metres(lons, lats))
        # Lloyd relaxation: moving each seed to the centroid of its clipped cell evens out sizes.
        for _ in range(_LLOYD_ROUNDS):
            clipped = shapely.intersection(_voronoi_cells(seeds, outline_m), outline_m)
            seeds = shapely.get_coordinates(shapely.centroid(clipped))
        polygons = _tile(frame, outline, seeds)
        # A cell cut in two by a bay of the outline cannot be one district: draw new seeds.
        if len(polygons) == count and all(p.geom_type == "Polygon" for p in polygons):
            break
    centre_x, centre_y = frame.to_metres(outline.centroid.x, outline.centroid.y)

    def clockwise_from_north(polygon: Polygon) -> float:
        x, y = frame.to_metres(polygon.centroid.x, polygon.centroid.y)
        return math.atan2(x - centre_x, y - centre_y) % (2 * math.pi)

    code_prefix, name_prefix = DISTRICT_PREFIX
    return [
        DemoDistrictArea(code=f"{code_prefix}-{i:02d}", name=f"{name_prefix} {i}구역", geometry=p)
        for i, p in enumerate(sorted(polygons, key=clockwise_from_north), start=1)
    ]


def _voronoi_cells(seeds: np.ndarray, outline_m: Polygon) -> np.ndarray:
    """Voronoi cells of the seeds (in seed order), extending past the outline."""
    diagram = shapely.voronoi_polygons(
        shapely.multipoints(seeds), extend_to=outline_m, ordered=True
    )
    return shapely.get_parts(diagram)


def _tile(frame: _Frame, outline: Polygon, seeds: np.ndarray) -> list[BaseGeometry]:
    """Clip the seeds' Voronoi cells to the outline so that neighbours share exact borders."""
    cells = frame.geometry_to_lonlat(_voronoi_cells(seeds, frame.geometry_to_metres(outline)))
    # Clipping each cell separately could leave slivers between neighbours; polygonizing one
    # noded arrangement of all borders gives faces that share their edges exactly.
    linework = shapely.union_all(
        [outline.boundary, *shapely.boundary(cells)], grid_size=_TILING_GRID
    )
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(linework)))
    inner = shapely.point_on_surface(faces)
    kept = shapely.contains(outline, inner)
    faces = faces[kept]
    inner_x, inner_y = frame.to_metres(*shapely.get_coordinates(inner[kept]).T)
    # Each face lies in exactly one cell: the one of the seed nearest to any interior point.
    owner = np.argmin(
        np.hypot(inner_x[:, None] - seeds[None, :, 0], inner_y[:, None] - seeds[None, :, 1]), axis=1
    )
    return [
        shapely.union_all(faces[owner == i], grid_size=_TILING_GRID)
        for i in range(len(seeds))
        if (owner == i).any()
    ]


def _depot(rng: random.Random, outline: Polygon) -> tuple[float, float]:
    """A point inside the outline within ~300 m of its centre."""
    frame = _frame_for(outline)
    while True:
        distance, bearing = rng.uniform(0, 300), rng.uniform(0, 2 * math.pi)
        point = frame.geometry_to_lonlat(
            shapely.Point(distance * math.sin(bearing), distance * math.cos(bearing))
        )
        lon, lat = round(point.x, _COORD_DECIMALS), round(point.y, _COORD_DECIMALS)
        if shapely.contains_xy(outline, lon, lat):
            return lon, lat


def _carriers(
    rng: random.Random, districts: list[DemoDistrictArea], count: int
) -> list[DemoCarrier]:
    """`count` carriers with unique names and employee numbers, every district covered."""
    codes = [d.code for d in districts]
    rng.shuffle(codes)
    homes = codes + [rng.choice(codes) for _ in range(count - len(codes))]
    width = max(2, len(str(count)))
    names: set[str] = set()
    numbers: set[str] = set()
    carriers = []
    for i, home in enumerate(homes, start=1):
        name = _person_name(rng, rng.choice((_MIDDLE_NAMES, _YOUNGER_NAMES)))
        while name in names:
            name = _person_name(rng, rng.choice((_MIDDLE_NAMES, _YOUNGER_NAMES)))
        # Hire year, then a serial: looks like a staff number, matches no real scheme.
        number = f"{rng.randint(1995, 2024)}{rng.randint(1, 9999):04d}"
        while number in numbers:
            number = f"{rng.randint(1995, 2024)}{rng.randint(1, 9999):04d}"
        names.add(name)
        numbers.add(number)
        carriers.append(
            DemoCarrier(
                username=f"carrier{i:0{width}d}",
                display_name=name,
                employee_no=number,
                home_district=home,
            )
        )
    return carriers


class _Streets:
    """Fictitious roads laid over a region, giving each point a road-name address and postal code.

    Numbering follows the Korean road-name address rules: numbers grow from the road's west (or
    south) end by one per 10 m, odd on the left and even on the right; side streets ("희망로7길")
    take the number of the spot where they branch off and are numbered the same way.
    """

    _FRONTAGE_M = 30.0
    _POSTAL_CELL_M = 500.0

    def __init__(self, rng: random.Random, region: BaseGeometry) -> None:
        """Lay the roads of _ROAD_NAMES over `region`."""
        self._frame = _frame_for(region)
        lons, lats = _sample_points(rng, region, len(_ROAD_NAMES))
        centre_x, centre_y = self._frame.to_metres(lons, lats)
        # Roughly a grid: half the roads run east-west, half north-south, each a little askew.
        headings = np.array(
            [
                math.radians(rng.uniform(-15, 15) + (90 if i % 2 else 0))
                for i in range(len(_ROAD_NAMES))
            ]
        )
        self._lengths = np.array(
            [
                rng.uniform(1500, 3500) if n.endswith("대로") else rng.uniform(600, 2000)
                for n in _ROAD_NAMES
            ]
        )
        self._side_spacing = np.array([rng.uniform(60, 110) for _ in _ROAD_NAMES])
        self._ux, self._uy = np.cos(headings), np.sin(headings)
        self._start_x = centre_x - self._ux * self._lengths / 2
        self._start_y = centre_y - self._uy * self._lengths / 2
        min_x, min_y, _, _ = region.bounds
        self._postal_origin = self._frame.to_metres(min_x, min_y)
        self._postal_columns = 1 + int(
            (self._frame.to_metres(region.bounds[2], min_y)[0] - self._postal_origin[0])
            // self._POSTAL_CELL_M
        )
        self._postal_base = rng.randrange(1000)

    def locate(self, lons: np.ndarray, lats: np.ndarray) -> list[tuple[str, str]]:
        """(road and number, postal code) of each point, e.g. ("희망로7길 15", "06123")."""
        x, y = self._frame.to_metres(lons, lats)
        dx, dy = x[:, None] - self._start_x, y[:, None] - self._start_y
        along = dx * self._ux + dy * self._uy
        left = self._ux * dy - self._uy * dx  # signed distance, positive on the left
        clamped = np.clip(along, 0, self._lengths)
        road = np.argmin(np.hypot(along - clamped, left), axis=1)
        rows = np.arange(len(x))
        along, left, clamped = along[rows, road], left[rows, road], clamped[rows, road]

        on_main = (np.abs(left) <= self._FRONTAGE_M) & (along == clamped)
        main_number = _building_number(clamped, left > 0)
        spacing = self._side_spacing[road]
        branch = (np.floor(clamped / spacing) + 0.5) * spacing
        side_street = _building_number(branch, left > 0)
        # Left of a side street, walking away from the main road, is the main road's "backward".
        side_number = _building_number(np.abs(left), np.sign(left) * (along - branch) < 0)

        column = (x - self._postal_origin[0]) // self._POSTAL_CELL_M
        row = (y - self._postal_origin[1]) // self._POSTAL_CELL_M
        cell = (row * self._postal_columns + column).astype(int)
        postal = (6000 + (self._postal_base + cell) % 1000).tolist()

        located = []
        for i, r in enumerate(road.tolist()):
            name = _ROAD_NAMES[r]
            if on_main[i]:
                address = f"{name} {main_number[i]}"
            else:
                address = f"{name}{side_street[i]}길 {side_number[i]}"
            located.append((address, f"{postal[i]:05d}"))
        return located


def _building_number(distance_m: np.ndarray, on_left: np.ndarray) -> list[int]:
    """Korean basic numbers: one per 10 m from the road's start, odd left and even right."""
    pair = np.floor(distance_m / 20).astype(int)
    return (2 * pair + np.where(on_left, 1, 2)).tolist()


def _households(
    count: int, seed: int, region: BaseGeometry, streets: _Streets
) -> Iterator[DemoHousehold]:
    """Households placed in `region`, addressed by `streets`, unique by name + address + detail."""
    rng = random.Random(f"{seed}:households")
    type_codes = list(_HOUSEHOLD_TYPE_WEIGHTS)
    type_weights = list(_HOUSEHOLD_TYPE_WEIGHTS.values())
    # The registry rejects duplicates of the normalized name + address + detail; the set grows
    # with `count` (about 40 MB for 100,000).
    seen: set[str] = set()
    produced = 0
    while produced < count:
        lons, lats = _sample_points(rng, region, min(_BATCH, count - produced))
        for lon, lat, (road, postal_code) in zip(
            lons.tolist(), lats.tolist(), streets.locate(lons, lats), strict=True
        ):
            household_type = rng.choices(type_codes, type_weights)[0]
            road_address = f"{MUNICIPALITY_NAME} {road}"
            if rng.random() < 0.12:
                road_address += f"-{rng.randint(1, 12)}"  # a sub-number (부번), "희망로 23-4"
            while True:
                name = _person_name(rng, rng.choice(_NAME_POOLS[household_type]))
                detail = _address_detail(rng)
                key = "".join(f"{name}|{road_address}|{detail or ''}".split()).casefold()
                if key not in seen:
                    break
            seen.add(key)
            yield DemoHousehold(
                name=name,
                road_address=road_address,
                address_detail=detail,
                postal_code=postal_code,
                phone=_phone(rng),
                lon=lon,
                lat=lat,
                household_type=household_type,
                risk_sources=_risk_sources(rng),
                note=rng.choice(_NOTES) if rng.random() < _NOTE_SHARE else None,
            )
        produced += len(lons)


def _person_name(rng: random.Random, given_names: tuple[str, ...]) -> str:
    """A Korean full name: a frequency-weighted surname and a two-syllable given name."""
    surname = rng.choices(_SURNAMES, cum_weights=_SURNAME_CUMULATIVE)[0][0]
    given = rng.choice(given_names)
    # "서서준" reads like a typo; real given names rarely repeat the surname's syllable.
    while given.startswith(surname):
        given = rng.choice(given_names)
    return surname + given


def _address_detail(rng: random.Random) -> str | None:
    """Unit part of an address: apartment, multi-family house, floor, basement, or none."""
    roll = rng.random()
    if roll < 0.40:
        return None
    if roll < 0.65:
        return f"{rng.randint(101, 115)}동 {rng.randint(1, 25)}{rng.randint(1, 6):02d}호"
    if roll < 0.80:
        return f"{rng.randint(1, 5)}{rng.randint(1, 4):02d}호"
    if roll < 0.88:
        return f"{rng.randint(1, 4)}층"
    if roll < 0.90:
        return "지하 1층"
    if roll < 0.96:
        return "반지하"
    return "옥탑방"


def _phone(rng: random.Random) -> str | None:
    """A mobile number most of the time, sometimes a Seoul landline, sometimes none."""
    roll = rng.random()
    if roll < 0.78:
        middle = rng.randint(2000, 9969)
        # libphonenumber has no 010-5970 to 010-5999 in its KR plan; skip them so all validate.
        middle += 30 if middle >= 5970 else 0
        return f"010-{middle}-{rng.randint(0, 9999):04d}"
    if roll < 0.90:
        return f"02-{rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"
    return None


def _risk_sources(rng: random.Random) -> list[str]:
    """One to three distinct risk-source codes, in vocabulary order."""
    how_many = rng.choices((1, 2, 3), _RISK_COUNT_WEIGHTS)[0]
    remaining = dict(_RISK_WEIGHTS)
    chosen = set()
    for _ in range(how_many):
        code = rng.choices(list(remaining), list(remaining.values()))[0]
        chosen.add(code)
        del remaining[code]
    return [code for code in RISK_SOURCES if code in chosen]
