"""Heap's cookies: values as JavaScript writes them, reading Heap's own, attributes, domains."""

import json
from urllib.parse import unquote

import pytest

from snippet.cookies import (
    SESSION_PROPS_MAX_BYTES,
    IdCookie,
    cookie_assignment,
    cookie_attributes,
    decode_cookie_value,
    domain_candidates,
    encode_cookie_value,
    http_date,
    id_cookie_value,
    jar_size,
    parse_document_cookie,
    read_event_props,
    read_id_cookie,
    read_session_props,
    session_props_value,
    thirteen_months_less_a_day,
)
from snippet.pageview import PageParts

# Expected values written by Node: encodeURIComponent(JSON.stringify(value)).
ENCODED = [
    ({"a": "é"}, "%7B%22a%22%3A%22%C3%A9%22%7D"),
    (
        {"Logged In": True, "n": 1.5, "m": 1.0},
        "%7B%22Logged%20In%22%3Atrue%2C%22n%22%3A1.5%2C%22m%22%3A1%7D",
    ),
    (
        {"x": "(a)*!~' \n\t\u0001\u2028"},
        "%7B%22x%22%3A%22(a)*!~'%20%5Cn%5Ct%5Cu0001%E2%80%A8%22%7D",
    ),
    ({"s": "\ud800x"}, "%7B%22s%22%3A%22%5Cud800x%22%7D"),
    (
        {"e": 1e-7, "b": 1e21, "c": 123456789012345680000.0},
        "%7B%22e%22%3A1e-7%2C%22b%22%3A1e%2B21%2C%22c%22%3A123456789012345680000%7D",
    ),
    (
        {"list": [1, None, "x"], "none": None},
        "%7B%22list%22%3A%5B1%2Cnull%2C%22x%22%5D%2C%22none%22%3Anull%7D",
    ),
]


@pytest.mark.parametrize(("value", "encoded"), ENCODED)
def test_values_are_encoded_exactly_like_javascript(value: object, encoded: str) -> None:
    assert encode_cookie_value(value) == encoded


def test_heaps_observed_id_cookie_round_trips_byte_for_byte() -> None:
    observed = (
        '{"userId":"7035907387929425","pageviewId":"3533035492830499",'
        '"sessionId":"3312313741047499","identity":null,"trackerVersion":"4.0"}'
    )
    ids = read_id_cookie(encode_cookie_value(json.loads(observed)))
    assert ids == IdCookie("7035907387929425", "3533035492830499", "3312313741047499", None)
    assert unquote(encode_cookie_value(id_cookie_value(ids))) == observed


def test_identified_id_cookie_adds_heaps_three_fields_in_order() -> None:
    ids = IdCookie("1" * 16, "2" * 16, "3" * 16, "alice@example.com")
    assert unquote(encode_cookie_value(id_cookie_value(ids))) == (
        '{"userId":"1111111111111111","pageviewId":"2222222222222222",'
        '"sessionId":"3333333333333333","identity":"alice@example.com",'
        '"trackerVersion":"4.0","identityField":null,"isIdentified":1}'
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (  # trackerVersion 3.0: a numeric user id
            '{"userId":7035907387929425,"pageviewId":1,"sessionId":2,"identity":null,'
            '"trackerVersion":"3.0"}',
            IdCookie("7035907387929425", "1", "2", None),
        ),
        (
            '{"userId":"7035907387929425","identity":"bob","isIdentified":1}',
            IdCookie("7035907387929425", "", "", "bob"),
        ),
        ('{"userId":"not a number"}', None),
        ('["userId"]', None),
        ("not json", None),
        ("", None),
    ],
)
def test_reading_id_cookies(raw: str, expected: IdCookie | None) -> None:
    cookie_value = encode_cookie_value(json.loads(raw)) if raw.startswith(("{", "[")) else raw
    assert read_id_cookie(cookie_value) == expected


def test_session_props_hold_the_landing_page_and_last_activity() -> None:
    landing = PageParts(
        url="https://shop.example.com/a?b=1#c",
        domain="shop.example.com",
        path="/a",
        query="?b=1",
        hash="#c",
        title="A",
        referrer="https://search.example/",
    )
    value = session_props_value(1702907773597.0, landing)
    assert value == {
        "ts": 1702907773597,
        "d": "shop.example.com",
        "h": "/a",
        "q": "?b=1",
        "g": "#c",
        "t": "A",
        "r": "https://search.example/",
    }
    assert read_session_props(encode_cookie_value(value), "https:") == (1702907773597.0, landing)


def test_session_props_of_a_long_landing_page_fit_by_cutting_title_and_referrer_first() -> None:
    query = "?utm_source=news&q=" + "x" * 600
    landing = PageParts(
        url="https://shop.example.com/a" + query,
        domain="shop.example.com",
        path="/a",
        query=query,
        title="\u041a\u0430\u0442\u0430\u043b\u043e\u0433 " * 200,  # 9 bytes a letter
        referrer="https://search.example/?q=" + "y" * 2000,
    )
    value = session_props_value(1702907773597.0, landing)
    assert len(encode_cookie_value(value)) <= SESSION_PROPS_MAX_BYTES
    assert (value["d"], value["h"], value["q"], value["t"]) == ("shop.example.com", "/a", query, "")
    assert str(value["r"]).startswith("https://search.example/?q=yyy")
    huge_query = session_props_value(1.0, PageParts(path="/p", query="?" + "z" * 5000))
    assert len(encode_cookie_value(huge_query)) == SESSION_PROPS_MAX_BYTES
    assert huge_query["h"] == "/p" and str(huge_query["q"]).startswith("?zzz")


def test_numbers_in_a_stored_landing_page_are_scrubbed() -> None:
    stored = {"ts": 1, "d": "s.example", "h": "/pay", "q": "?cc=4111111111111111", "t": "", "r": ""}
    _, landing = read_session_props(encode_cookie_value(stored), "https:") or (0, PageParts())
    assert (landing.query, landing.url) == ("?cc=", "https://s.example/pay?cc=")


@pytest.mark.parametrize(
    "raw",
    ["", "garbage", encode_cookie_value({"d": "x"}), encode_cookie_value({"ts": True})],
)
def test_unusable_session_props_are_ignored(raw: str) -> None:
    assert read_session_props(raw, "https:") is None


def test_heaps_observed_session_props_are_read() -> None:
    observed = (
        '{"z":0,"ts":1702907773597,"d":"www.digikala.com","h":"/profile/orders/",'
        '"t":"Orders","q":"?activeTab=sent&page=2"}'
    )
    ts, landing = read_session_props(encode_cookie_value(json.loads(observed)), "https:") or (
        0,
        PageParts(),
    )
    assert ts == 1702907773597
    assert landing.url == "https://www.digikala.com/profile/orders/?activeTab=sent&page=2"
    assert (landing.title, landing.hash, landing.referrer) == ("Orders", "", "")


@pytest.mark.parametrize(
    ("raw", "props"),
    [
        (encode_cookie_value({"Logged In": True, "Pro": True}), {"Logged In": True, "Pro": True}),
        (encode_cookie_value({"Base.appName": "Canvas"}), {"Base.appName": "Canvas"}),
        (encode_cookie_value([1]), {}),
        ("%7Bbroken", {}),
        (None, {}),
    ],
)
def test_reading_event_props(raw: str | None, props: dict[str, object]) -> None:
    assert read_event_props(raw) == props


def test_decoding_accepts_unencoded_json() -> None:
    assert decode_cookie_value('{"a":1}') == {"a": 1}


@pytest.mark.parametrize(
    ("document_cookie", "jar"),
    [
        ("", {}),
        ("a=1", {"a": "1"}),
        ("a=1; b=x=y;c=", {"a": "1", "b": "x=y", "c": ""}),
        ("a=1; a=2", {"a": "1"}),  # the more specific path comes first
        ("junk; =nameless; d=4", {"d": "4"}),
    ],
)
def test_parsing_document_cookie(document_cookie: str, jar: dict[str, str]) -> None:
    assert parse_document_cookie(document_cookie) == jar


@pytest.mark.parametrize(
    ("hostname", "candidates"),
    [
        (
            "a.shop.example.co.uk",
            ["co.uk", "example.co.uk", "shop.example.co.uk", "a.shop.example.co.uk"],
        ),
        ("shop.example.com", ["example.com", "shop.example.com"]),
        ("example.com", ["example.com"]),
        ("Example.COM.", ["example.com"]),
        ("localhost", []),
        ("127.0.0.1", []),
        ("[::1]", []),
        ("::1", []),
        ("", []),
    ],
)
def test_cookie_domain_candidates(hostname: str, candidates: list[str]) -> None:
    assert domain_candidates(hostname) == candidates


@pytest.mark.parametrize(
    ("now", "expires"),
    [
        ("2024-01-15T10:00:00", "Fri, 14 Feb 2025 10:00:00 GMT"),
        ("2024-01-31T00:00:00", "Thu, 27 Feb 2025 00:00:00 GMT"),  # Feb 28 less a day
        ("2023-01-31T00:00:00", "Wed, 28 Feb 2024 00:00:00 GMT"),  # leap February
        ("2024-12-01T23:59:59", "Wed, 31 Dec 2025 23:59:59 GMT"),
    ],
)
def test_thirteen_months_less_a_day(now: str, expires: str) -> None:
    from datetime import UTC, datetime

    now_ms = datetime.fromisoformat(now).replace(tzinfo=UTC).timestamp() * 1000
    assert http_date(thirteen_months_less_a_day(now_ms)) == expires


@pytest.mark.parametrize(
    ("secure", "in_iframe", "attributes"),
    [
        (False, False, "SameSite=Lax"),
        (False, True, "SameSite=Lax"),
        (True, False, "Secure; SameSite=None"),
        (True, True, "Secure; SameSite=None; Partitioned"),
    ],
)
def test_cookie_attributes(secure: bool, in_iframe: bool, attributes: str) -> None:
    assert cookie_attributes(secure=secure, in_iframe=in_iframe) == attributes


@pytest.mark.parametrize(
    ("domain", "expires_ms", "expected"),
    [
        (
            "example.com",
            None,
            "n=v; path=/; domain=example.com; expires=Thu, 01 Jan 1970 00:00:00 GMT; A",
        ),
        ("", 1445412480000, "n=v; path=/; expires=Wed, 21 Oct 2015 07:28:00 GMT; A"),
    ],
)
def test_cookie_assignments(domain: str, expires_ms: float | None, expected: str) -> None:
    assigned = cookie_assignment("n", "v", domain=domain, expires_ms=expires_ms, attributes="A")
    assert assigned == expected


def test_an_expiry_date_is_an_http_date() -> None:
    assert http_date(1445412480000) == "Wed, 21 Oct 2015 07:28:00 GMT"


def test_jar_size_counts_name_value_pairs_and_separators() -> None:
    assert jar_size({"a": "1", "bb": "22"}) == len("a=1; bb=22; ")
    assert jar_size({"é": "é"}) == len("é=é; ".encode())
