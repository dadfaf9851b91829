"""Table-driven tests of the collector's small pure helpers: bots, bodies, export, validation."""

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from collector.batch_answer import RecordProblem
from collector.bots import is_bot
from collector.context import NO_REQUEST_CONTEXT
from collector.export import iso_time
from collector.ingest import record_operation
from collector.request_body import RequestProblem, decompress, parse_json
from collector.server import settings_from_json, settings_to_json
from collector.settings import Settings
from collector.storage.base import NewEvent
from snippet.validate import user_id_problem
from tests.collector.wire import event, page


@pytest.mark.parametrize(
    ("user_agent", "bot"),
    [
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", True),
        ("Mozilla/5.0 (compatible; bingbot/2.0)", True),
        ("facebookexternalhit/1.1", True),
        ("curl/8.5.0", True),
        ("python-requests/2.31", True),
        ("Mozilla/5.0 (compatible; AhrefsBot/7.0)", True),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36", False),
        ("Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/126.0 Safari/537.36", False),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148", False),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/126.0 Mobile Safari/537.36", False),
        ("", False),
    ],
)
def test_is_bot(user_agent: str, bot: bool) -> None:
    assert is_bot(user_agent) is bot


PAYLOAD = b'{"a": 1}'


@pytest.mark.parametrize(
    ("raw", "encoding", "cap", "result"),
    [
        (PAYLOAD, "", 100, PAYLOAD),
        (PAYLOAD, "identity", 100, PAYLOAD),
        (gzip.compress(PAYLOAD), "gzip", 100, PAYLOAD),
        (gzip.compress(PAYLOAD), "", 100, PAYLOAD),  # by magic bytes
        (gzip.compress(PAYLOAD), "GZIP ", 100, PAYLOAD),
        (gzip.compress(b"x" * 101), "gzip", 100, 413),
        (gzip.compress(b"x" * 100), "gzip", 100, b"x" * 100),
        (gzip.compress(PAYLOAD)[:-6], "gzip", 100, 400),  # cut short
        (PAYLOAD, "gzip", 100, 400),  # says gzip, is not
        (PAYLOAD, "br", 100, 415),
    ],
)
def test_decompress(raw: bytes, encoding: str, cap: int, result: bytes | int) -> None:
    if isinstance(result, int):
        with pytest.raises(RequestProblem) as refused:
            decompress(raw, encoding, cap)
        assert refused.value.status == result
    else:
        assert decompress(raw, encoding, cap) == result


@pytest.mark.parametrize(
    ("body", "value"),
    [
        (b'{"a": [1, 2.5, "x", null, true]}', {"a": [1, 2.5, "x", None, True]}),
        (b'\xef\xbb\xbf{"bom": 1}', {"bom": 1}),
        (b"  ", "empty"),
        (b"NaN", "NaN"),
        (b"[Infinity]", "Infinity"),
        (b"[" * 100_000, "not valid JSON"),
        (b'"\xc3\x28"', "UTF-8"),
        (b"1" * 5000, "not valid JSON"),  # over Python's int digit limit
        # Bodies the fast parser would read differently read as the standard one reads them:
        (b"[123456789012345678901, -9223372036854775809]", [123456789012345678901, -(2**63) - 1]),
        (b'{"a": [18446744073709551615]}', {"a": [2**64 - 1]}),
        (b'["\\ud83d\\ude00", "cut \\ud83d", "\\udc00"]', ["\U0001f600", "cut \ufffd", "\ufffd"]),
        (b'{"a": 1, "a": 2}', {"a": 2}),
        (b'{"id": "1234567890123456789012345678abcd"}', {"id": "1234567890123456789012345678abcd"}),
    ],
)
def test_parse_json(body: bytes, value: object) -> None:
    if isinstance(value, str):
        with pytest.raises(RequestProblem) as refused:
            parse_json(body)
        assert value in refused.value.message and refused.value.status == 400
    else:
        assert parse_json(body) == value


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1_700_000_000_123, "2023-11-14T22:13:20.123Z"),
        (None, None),
    ],
)
def test_iso_time(ms: int | None, text: str | None) -> None:
    assert iso_time(ms) == text


@pytest.mark.parametrize(
    ("user_id", "ok"),
    [
        ("7035907387929425", True),
        ("0", True),
        (7035907387929425, True),
        (str(2**53 - 1), True),
        (str(2**53), False),
        ("12345678901234567", False),
        ("-1", False),
        ("12a", False),
        ("", False),
        ("١٢٣", False),  # non-ASCII digits
        (True, False),
        (1.5, False),
        (None, False),
    ],
)
def test_user_id_problem(user_id: object, ok: bool) -> None:
    assert (user_id_problem(user_id) is None) is ok


@pytest.mark.parametrize(
    "settings",
    [
        Settings(),
        Settings(db="/tmp/x y.sqlite3", port=9, demo=True, drop_bots=False),
        Settings(bundle_dir=Path("b"), site_dir=Path("s"), max_ingest_bytes=1),
    ],
)
def test_settings_reach_the_granian_worker_unchanged(settings: Settings) -> None:
    assert settings_from_json(settings_to_json(settings)) == settings


@pytest.mark.parametrize(
    ("app_id", "ok"),
    [
        ("1234567890", True),
        ("shop_eu-2", True),
        ("bad id", False),
        ("a=b", False),
        ("x" * 65, False),
    ],
)
def test_apps_create_accepts_only_ids_fit_for_cookie_names(
    tmp_path: Path, app_id: str, ok: bool
) -> None:
    db = tmp_path / "apps.sqlite3"
    command = [sys.executable, "-m", "collector.cli", "apps", "create", "--name", "Shop"]
    done = subprocess.run(
        [*command, "--app-id", app_id, "--db", str(db)], capture_output=True, text=True
    )
    assert (done.returncode == 0) is ok, done.stderr
    if ok:
        assert json.loads(done.stdout)["app_id"] == app_id
    else:
        assert "letters, digits" in done.stderr


def test_records_of_one_batch_each_keep_their_own_page_and_session() -> None:
    # Validation reuses its result for a run of equal pages or sessions; unequal ones, and ones
    # it must refuse, are still checked one by one.
    shoes, cart = page("/shoes"), page("/cart")
    landing = {"landing_page": shoes["url"], "initial_referrer": "", "utm_source": "news"}
    other_landing = {"landing_page": cart["url"], "initial_referrer": "https://x/"}
    sent = [
        (shoes, landing),
        (dict(shoes), dict(landing)),  # equal, not the same objects
        (cart, None),
        ({**cart, "title": 7}, None),  # refused, though it follows an equal-looking page
        (shoes, other_landing),
        (shoes, {**other_landing, "utm_source": "ads"}),
    ]
    checked = []
    for page_sent, session_sent in sent:
        try:
            operation = record_operation(
                event("11", "click", page=page_sent, session=session_sent), NO_REQUEST_CONTEXT
            )
        except RecordProblem as problem:
            checked.append(str(problem))
        else:
            assert isinstance(operation, NewEvent)
            checked.append((operation.page, operation.session))
    assert checked == [
        (shoes, landing),
        (shoes, landing),
        (cart, None),
        "page.title must be a string",
        (shoes, other_landing),
        (shoes, {**other_landing, "utm_source": "ads"}),
    ]


def test_records_of_one_batch_each_keep_their_own_properties() -> None:
    # Reused only for equal properties of the same types in the same order: 1 == True == 1.0.
    sent = [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "x"},
        {"a": True, "b": "x"},
        {"a": 1.0, "b": "x"},
        {"b": "x", "a": 1},
        {"n": {"y": 1}},
        {"n": {"y": True}},
        {"l": [1]},
        {"l": [True]},
        {"a": None, "b": "x"},
        {"a": "x" * 2000},
    ]
    kept = []
    for properties in sent:
        try:
            operation = record_operation(
                event("11", "click", properties=properties), NO_REQUEST_CONTEXT
            )
        except RecordProblem as problem:
            kept.append(str(problem))
        else:
            assert isinstance(operation, NewEvent)
            kept.append([(key, value, type(value)) for key, value in operation.properties.items()])
    assert kept == [
        [("a", 1, int), ("b", "x", str)],
        [("a", 1, int), ("b", "x", str)],
        [("a", True, bool), ("b", "x", str)],
        [("a", 1.0, float), ("b", "x", str)],
        [("b", "x", str), ("a", 1, int)],
        [("n.y", 1, int)],
        [("n.y", True, bool)],
        [("l", "[1]", str)],
        [("l", "[true]", str)],
        [("b", "x", str)],
        "property 'a' is longer than 1023 characters",
    ]


def test_records_each_keep_their_own_context() -> None:
    # The page's context is reused for equal ones of the same types (a width of True or 1.0 is
    # no width), and the stored context for the very same page and request contexts; another
    # request's context is its own even where the page's is equal.
    chrome = {**NO_REQUEST_CONTEXT, "browser": "Chrome", "device_type": "Desktop"}
    firefox = {**NO_REQUEST_CONTEXT, "browser": "Firefox", "device_type": "Desktop"}
    screen = {"width": 1, "height": 1080}  # 1 == True
    sent = [
        ({"screen": screen, "language": "en-GB"}, chrome),
        ({"screen": dict(screen), "language": "en-GB"}, chrome),
        ({"screen": {**screen, "width": True}, "language": "en-GB"}, chrome),
        ({"screen": {**screen, "width": 1.0}, "language": "en-GB"}, chrome),
        ({"screen": screen, "language": "en-GB"}, dict(chrome)),
        ({"screen": screen, "language": "en-GB"}, firefox),
        ({"screen": screen, "language": "de-DE"}, firefox),
    ]
    stored = []
    for page_context, request_context in sent:
        operation = record_operation(event("11", "click", context=page_context), request_context)
        assert isinstance(operation, NewEvent) and operation.context is not None
        stored.append(operation.context)
    expected_pages = [
        {"screen": screen, "viewport": None, "language": "en-GB", "time_zone": None},
        {"screen": screen, "viewport": None, "language": "en-GB", "time_zone": None},
        {"screen": None, "viewport": None, "language": "en-GB", "time_zone": None},
        {"screen": None, "viewport": None, "language": "en-GB", "time_zone": None},
        {"screen": screen, "viewport": None, "language": "en-GB", "time_zone": None},
        {"screen": screen, "viewport": None, "language": "en-GB", "time_zone": None},
        {"screen": screen, "viewport": None, "language": "de-DE", "time_zone": None},
    ]
    requests = [request_context for _, request_context in sent]
    assert stored == [{**p, **r} for p, r in zip(expected_pages, requests, strict=True)]
    assert stored[0] is stored[1]  # one stored context for a run of the same ones
