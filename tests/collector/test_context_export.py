"""Context over real HTTP to a real `footfall serve`: each event's page and request context, the
address believed only from a trusted proxy (loopback here), kept only with --store-ip, and the
users' initial properties, set once and never overwritten."""

import ipaddress
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from collector.context import CONTEXT_FIELDS
from tests.collector.context_cases import IPHONE, IPHONE_IN_LONDON, LONDON
from tests.collector.test_observed import fallback_body, navigate
from tests.collector.wire import PAGE_CONTEXT, batch, event, identify
from tests.live_server import REPO_ROOT, LiveServer, free_port, run_cli, start_server

# Where the bundled DB-IP Lite database places these addresses.
SYDNEY, MOUNTAIN_VIEW = "1.1.1.1", "8.8.8.8"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A collector behind a proxy on 127.0.0.1; 127.0.0.2 is any other client."""
    with start_server(tmp_path_factory.mktemp("context"), "--trusted-proxy", "127.0.0.1") as live:
        yield live


@pytest.fixture
def app_id(server: LiveServer, request: pytest.FixtureRequest) -> str:
    return new_app(server.db_path, request.node.name[:40])


def new_app(db_path: Path, name: str) -> str:
    return str(run_cli("apps", "create", "--name", name, "--db", str(db_path))[0]["app_id"])


def send(
    server: LiveServer,
    path: str,
    body: object,
    *,
    forwarded_for: str | None = None,
    from_address: str = "127.0.0.1",
    user_agent: str = IPHONE,
) -> httpx.Response:
    """POST `body` from `from_address` (the trusted proxy, unless another is given)."""
    headers = {"content-type": "text/plain", "user-agent": user_agent}
    if forwarded_for is not None:
        headers["x-forwarded-for"] = forwarded_for
    transport = httpx.HTTPTransport(local_address=from_address)
    with httpx.Client(transport=transport, timeout=30) as client:
        answer = client.post(server.url + path, content=json.dumps(body), headers=headers)
    assert answer.status_code == 200, answer.text
    return answer


def events(server: LiveServer, app_id: str) -> list[dict]:
    return run_cli("events", "--db", str(server.db_path), "--app", app_id)


def users(server: LiveServer, app_id: str) -> list[dict]:
    return run_cli("users", "--db", str(server.db_path), "--app", app_id)


def test_an_event_is_exported_with_the_page_and_the_request_context(
    server: LiveServer, app_id: str
) -> None:
    # A proxy that saw a chain of two keeps the client's address last.
    forwarded = f"203.0.113.9, {LONDON}"
    send(server, "/api/ingest", batch(app_id, event("11")), forwarded_for=forwarded)
    [row] = events(server, app_id)
    assert list(row["context"]) == list(CONTEXT_FIELDS)
    assert row["context"] == {**PAGE_CONTEXT, **IPHONE_IN_LONDON}  # ip None: no --store-ip


def test_a_forwarded_address_is_believed_only_from_a_trusted_proxy(
    server: LiveServer, app_id: str
) -> None:
    send(
        server,
        "/api/ingest",
        batch(app_id, event("12")),
        forwarded_for=LONDON,
        from_address="127.0.0.2",  # not a trusted proxy: its X-Forwarded-For is anyone's
    )
    [row] = events(server, app_id)
    assert row["context"]["country"] is row["context"]["city"] is None  # 127.0.0.2 is nowhere
    assert row["context"]["browser"] == "Mobile Safari"


def test_a_malformed_page_context_field_is_null_and_the_event_kept(
    server: LiveServer, app_id: str
) -> None:
    sent = event("13", context={"screen": {"width": "wide"}, "language": "fr-FR", "x": 1})
    send(server, "/api/ingest", batch(app_id, sent), forwarded_for=SYDNEY)
    [row] = events(server, app_id)
    assert row["context"]["screen"] is None and row["context"]["language"] == "fr-FR"
    assert row["context"]["city"] == "Sydney" and "x" not in row["context"]


def test_the_fallbacks_pageviews_get_the_visitors_context(server: LiveServer, app_id: str) -> None:
    send(server, "/api/observed", fallback_body(app_id, [navigate()]), forwarded_for=LONDON)
    [row] = events(server, app_id)
    assert row["type"] == "pageview"
    assert {key: row["context"][key] for key in ("language", "device_type", "city")} == {
        "language": PAGE_CONTEXT["language"],
        "device_type": "Mobile",
        "city": "London",
    }


def test_a_server_side_event_has_no_request_context(server: LiveServer, app_id: str) -> None:
    call = {"app_id": app_id, "identity": "kim", "event": "Invoice paid"}
    send(server, "/api/track", call, forwarded_for=LONDON)  # the customer's server, not Kim
    [row] = events(server, app_id)
    assert row["context"] == dict.fromkeys(CONTEXT_FIELDS)


def test_initial_properties_come_from_the_first_web_event_and_never_change(
    server: LiveServer, app_id: str
) -> None:
    landing = {"landing_page": "https://shop.example.com/?utm_source=news", "utm_source": "news"}
    first = event("21", session={**landing, "initial_referrer": "https://news.example.org/"})
    send(server, "/api/ingest", batch(app_id, first), forwarded_for=LONDON)
    expected = {
        "Initial Referrer": "https://news.example.org/",
        "Initial Landing Page": "https://shop.example.com/?utm_source=news",
        "Initial UTM Source": "news",
        "Initial Browser": "Mobile Safari",
        "Initial Device Type": "Mobile",
        "Initial Platform": "iOS",
        "Initial Country": "GB",
        "Initial Region": "England",
        "Initial City": "London",
    }
    [user] = users(server, app_id)
    assert user["initial_properties"] == expected and user["properties"] == {}

    # Later: another session, from elsewhere, another browser; then identified, and given
    # properties of the same names by the server-side API.
    later = event(
        "21",
        session_id="4412313741047411",
        session={"landing_page": "https://shop.example.com/pricing", "initial_referrer": ""},
    )
    firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0"
    send(
        server,
        "/api/ingest",
        batch(app_id, later, identify("21", "lee@example.com")),
        forwarded_for=MOUNTAIN_VIEW,
        user_agent=firefox,
    )
    renamed = {"app_id": app_id, "identity": "lee@example.com", "properties": {"plan": "Pro"}}
    send(server, "/api/add_user_properties", renamed)
    [user] = users(server, app_id)
    assert user["identity"] == "lee@example.com" and user["properties"] == {"plan": "Pro"}
    assert user["initial_properties"] == expected
    assert [e["context"]["city"] for e in events(server, app_id)] == ["London", "Mountain View"]


def test_a_merged_users_initial_properties_go_only_to_a_user_who_has_none(
    server: LiveServer, app_id: str
) -> None:
    # Mia is known to the server first (no web event, so no initial properties yet) ...
    created = {"app_id": app_id, "identity": "mia", "properties": {"plan": "Free"}}
    send(server, "/api/add_user_properties", created)
    assert users(server, app_id)[0]["initial_properties"] == {}
    # ... then browses anonymously from Sydney and logs in: her first web session's come along.
    send(server, "/api/ingest", batch(app_id, event("31")), forwarded_for=SYDNEY)
    send(server, "/api/ingest", batch(app_id, identify("31", "mia")), forwarded_for=SYDNEY)
    [mia] = users(server, app_id)
    assert mia["identity"] == "mia" and mia["initial_properties"]["Initial City"] == "Sydney"
    # Another anonymous visitor, first seen in London, logs in as Mia: Mia's stay.
    send(server, "/api/ingest", batch(app_id, event("32")), forwarded_for=LONDON)
    send(server, "/api/ingest", batch(app_id, identify("32", "mia")), forwarded_for=LONDON)
    [mia] = users(server, app_id)
    assert sorted(mia["merged_user_ids"]) == ["31", "32"]
    assert mia["initial_properties"]["Initial City"] == "Sydney"


def test_store_ip_keeps_the_visitors_address(tmp_path: Path) -> None:
    with start_server(tmp_path, "--trusted-proxy", "127.0.0.1", "--store-ip") as live:
        app_id = new_app(live.db_path, "store-ip")
        send(live, "/api/ingest", batch(app_id, event("41")), forwarded_for=LONDON)
        [row] = events(live, app_id)
    assert row["context"]["ip"] == LONDON and row["context"]["city"] == "London"


def test_serve_stops_with_a_clear_message_when_the_named_geo_database_is_missing(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "GeoLite2-City.mmdb"
    done = subprocess.run(
        [sys.executable, "-m", "collector.cli", "serve", "--port", str(free_port())]
        + ["--db", str(tmp_path / "f.sqlite3"), "--geo-db", str(missing)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"no geo database at {missing}: run ./dev.sh" in done.stderr


@pytest.mark.parametrize(
    "forwarded",
    [
        LONDON,
        f"192.0.2.1,{LONDON}",
        f"10.0.0.7,{LONDON}",
        f"10.0.0.7 , 192.0.2.1,  {LONDON}",
        "2a00:1450:4001:82b::200e",
        "2A00:1450:4001:082B:0000:0000:0000:200E",
    ],
)
def test_without_store_ip_no_address_reaches_the_database(
    server: LiveServer, app_id: str, forwarded: str
) -> None:
    send(server, "/api/ingest", batch(app_id, event("71")), forwarded_for=forwarded)
    [row] = events(server, app_id)
    assert row["context"]["country"] in ("GB", "DE") and row["context"]["ip"] is None
    stored = b"".join(
        path.read_bytes()
        for path in server.db_path.parent.glob(server.db_path.name + "*")  # with -wal, -shm
    )
    for address in {part.strip() for part in forwarded.split(",")}:
        for text in {address, address.lower(), str(ipaddress.ip_address(address))}:
            assert text.encode() not in stored, text
            assert text.encode("utf-16-le") not in stored, text
