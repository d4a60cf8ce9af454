"""core.geocoding against a local fake Nominatim."""

import socket
from collections.abc import Iterator

import pytest

from core.geocoding import Geocoder, GeocodeResult, GeocoderUnavailable
from tests.support.fakes.nominatim import FakeNominatim

CITY_HALL = "서울특별시 중구 세종대로 110"
PLACES = {
    CITY_HALL: (126.9780, 37.5665),
    "Tokyo Station": (139.7671, 35.6812),  # would be a wrong match for a Korean address
}


@pytest.fixture
def fake() -> Iterator[FakeNominatim]:
    with FakeNominatim(PLACES) as server:
        yield server


def geocoder(url: str, min_delay_s: float = 0.0) -> Geocoder:
    return Geocoder(url, timeout_s=2.0, min_delay_s=min_delay_s, backoff_s=0.01)


def test_found(fake: FakeNominatim) -> None:
    result = geocoder(fake.url).geocode(CITY_HALL)
    assert result == GeocodeResult(lon=126.978, lat=37.5665, display=CITY_HALL)
    assert fake.requests == [CITY_HALL]


def test_not_found(fake: FakeNominatim) -> None:
    assert geocoder(fake.url).geocode("없는 주소 999") is None
    assert fake.requests == ["없는 주소 999"]


def test_blank_address_is_not_sent(fake: FakeNominatim) -> None:
    assert geocoder(fake.url).geocode("   ") is None
    assert fake.requests == []


def test_outside_korea_is_not_found(fake: FakeNominatim) -> None:
    assert geocoder(fake.url).geocode("Tokyo Station") is None


def test_url_path_prefix_is_used(fake: FakeNominatim) -> None:
    # Requests go to <prefix>/search; the fake only serves /search, so these are 404s.
    with pytest.raises(GeocoderUnavailable):
        geocoder(fake.url + "/nominatim/").geocode(CITY_HALL)
    assert fake.requests == []


def test_transient_503_retried_then_success(fake: FakeNominatim) -> None:
    fake.fail_next(2)
    assert geocoder(fake.url).geocode(CITY_HALL) is not None
    assert fake.requests == [CITY_HALL] * 3


def test_persistent_503_raises_unavailable(fake: FakeNominatim) -> None:
    fake.fail_next(10)
    with pytest.raises(GeocoderUnavailable) as info:
        geocoder(fake.url).geocode(CITY_HALL)
    assert len(fake.requests) == 3  # bounded: the default 3 attempts
    assert "세종대로" not in str(info.value) and "%EC" not in str(info.value)  # no address leak


@pytest.mark.parametrize("status", [500, 502, 504, 429])
def test_other_transient_statuses_are_retried(fake: FakeNominatim, status: int) -> None:
    fake.fail_next(1, status=status)
    assert geocoder(fake.url).geocode(CITY_HALL) is not None
    assert len(fake.requests) == 2


def test_client_error_is_not_retried(fake: FakeNominatim) -> None:
    fake.fail_next(1, status=403)
    with pytest.raises(GeocoderUnavailable):
        geocoder(fake.url).geocode(CITY_HALL)
    assert len(fake.requests) == 1


def test_unreachable_server_raises_unavailable() -> None:
    # A port that was just free: connection refused on every attempt.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(GeocoderUnavailable) as info:
        geocoder(f"http://127.0.0.1:{port}").geocode(CITY_HALL)
    assert "%EC" not in str(info.value) and info.value.__cause__ is None


def test_min_delay_between_calls(fake: FakeNominatim) -> None:
    client = geocoder(fake.url, min_delay_s=0.05)
    fake.fail_next(1)  # retries are spaced by the limiter too
    for _ in range(3):
        client.geocode(CITY_HALL)
    times = fake.request_times
    assert len(times) == 4
    # Only a loose lower bound over all gaps: a busy machine delays requests, never hurries them,
    # but a late first request shortens the span, so allow for that.
    assert times[-1] - times[0] >= 0.1


def test_bad_url_rejected() -> None:
    for url in ("127.0.0.1:8080", "ftp://host", "http://"):
        with pytest.raises(ValueError):
            Geocoder(url)
