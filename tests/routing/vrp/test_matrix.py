"""Travel matrices: great-circle estimates per profile and the OSRM /table client."""

from __future__ import annotations

import random

import numpy as np
import pytest

from core.geo import geodesic_m
from routing.vrp.matrix import (
    PROFILES,
    UNREACHABLE,
    MatrixError,
    OsrmTable,
    haversine_matrix,
    matrices_from_points,
)
from tests.support.fakes.osrm import FakeOsrm, great_circle_m

SEOUL_CITY_HALL = (126.9779, 37.5663)
BUSAN_STATION = (129.0403, 35.1152)
JEJU_AIRPORT = (126.4930, 33.5104)


def korean_points(n: int, seed: int = 7) -> list[tuple[float, float]]:
    rnd = random.Random(seed)
    return [(rnd.uniform(126.0, 129.5), rnd.uniform(33.2, 38.5)) for _ in range(n)]


def test_haversine_is_within_half_a_percent_of_the_geodesic():
    points = [SEOUL_CITY_HALL, BUSAN_STATION, JEJU_AIRPORT, *korean_points(30)]
    # A few short urban hops as well: a block, a street.
    points += [(126.9779 + d, 37.5663 + d / 2) for d in (0.0005, 0.003, 0.02)]
    matrix = haversine_matrix(points)
    for i, a in enumerate(points):
        for j, b in enumerate(points):
            if i != j:
                exact = geodesic_m(a, b)
                assert abs(matrix[i, j] - exact) / exact < 0.005, (a, b)


def test_haversine_matrix_is_symmetric_with_a_zero_diagonal():
    matrix = haversine_matrix(korean_points(1100))  # more rows than one block
    assert matrix.shape == (1100, 1100)
    assert np.allclose(matrix, matrix.T)
    assert not np.diag(matrix).any()
    assert 320_000 < haversine_matrix([SEOUL_CITY_HALL, BUSAN_STATION])[0, 1] < 330_000


def test_profiles_scale_distance_by_circuity_and_time_by_speed():
    points = [SEOUL_CITY_HALL, (127.0276, 37.4979)]  # city hall to Gangnam station, ~8.8 km
    straight = haversine_matrix(points)[0, 1]
    for name, profile in PROFILES.items():
        durations, distances = matrices_from_points(points, name)
        assert durations.dtype == distances.dtype == np.int64
        assert distances[0, 1] == round(straight * profile.circuity)
        assert durations[0, 1] == round(straight * profile.circuity / profile.speed_m_s)
    walk, _ = matrices_from_points(points, "foot")
    ride, _ = matrices_from_points(points, "motorbike")
    assert 2 * 3600 < walk[0, 1] < 3 * 3600  # 11 km of streets on foot
    assert ride[0, 1] < walk[0, 1] / 3


def test_an_unknown_profile_is_an_error_naming_the_known_ones():
    with pytest.raises(MatrixError, match=r"unknown profile 'boat' \(known: car, foot"):
        matrices_from_points([SEOUL_CITY_HALL], "boat")


def test_osrm_table_reads_durations_and_distances_rounded():
    points = [(126.9779, 37.5663), (126.9920, 37.5700), (127.0010, 37.5500)]
    with FakeOsrm(speed_m_s=5.0) as osrm:
        durations, distances = OsrmTable(osrm.url).matrices(points, "foot")
    assert osrm.requests == ["/table/v1/foot/" + ";".join(f"{x:.6f},{y:.6f}" for x, y in points)]
    for i, a in enumerate(points):
        for j, b in enumerate(points):
            assert distances[i, j] == round(round(great_circle_m(a, b), 1))
            assert abs(durations[i, j] - great_circle_m(a, b) / 5.0) <= 0.6


def test_osrm_table_fetches_big_matrices_block_by_block():
    points = korean_points(7)
    with FakeOsrm() as osrm:
        whole = OsrmTable(osrm.url).matrices(points, "car")
        blocks = OsrmTable(osrm.url, block=3).matrices(points, "car")
    assert len(osrm.requests) == 1 + 9
    assert np.array_equal(whole[0], blocks[0]) and np.array_equal(whole[1], blocks[1])


def test_osrm_null_entries_become_unreachable():
    points = [(126.9779, 37.5663), (126.5, 33.5), (126.9920, 37.57)]
    with FakeOsrm(unreachable={points[1]}) as osrm:
        durations, distances = OsrmTable(osrm.url).matrices(points, "car")
    assert durations[0, 1] == durations[1, 2] == distances[2, 1] == UNREACHABLE
    assert durations[1, 1] == 0 and 0 < durations[0, 2] < UNREACHABLE


def test_osrm_failures_raise_a_clear_error():
    with FakeOsrm(fail_status=400) as osrm, pytest.raises(MatrixError) as error:
        OsrmTable(osrm.url).matrices(korean_points(3), "car")
    assert str(error.value) == "OSRM table request failed: HTTP 400 (Too many table coordinates)"

    with FakeOsrm() as osrm:
        dead_url = osrm.url  # nothing listens there once the fake has stopped
    with pytest.raises(MatrixError, match="OSRM table request failed: ConnectionError"):
        OsrmTable(dead_url, timeout_s=2).matrices(korean_points(3), "car")
