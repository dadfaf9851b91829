"""Dashboard pages over real HTTP: the real server, a real SQLite file, events via /api/ingest."""

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from collector.dashboard.chart import DAY_MS
from tests.collector.wire import NOW_MS, batch, event, identify, page
from tests.live_server import LiveServer, run_cli, start_server

PASSWORD = "correct horse battery staple"
BUY = "@div;#root;|@form;#checkout;|@button;#buy;.btn;.primary;[type=submit];|"
BUY_ICON = BUY + "@span;.icon;|"
NAV = "@div;#root;|@nav;|@a;.nav;[href=/help];|"
ODD = '@div;#Ärger;|@a;.größe;[data-x=a\\b];[title=say "hi"];|'
OLD = NOW_MS - 3 * DAY_MS  # inside the 7-day chart, outside the 24-hour one


def target(hierarchy: str, text: str) -> dict[str, str]:
    return {"tag": "x", "id": "", "class": "", "text": text, "href": "", "hierarchy": hierarchy}


class Admin:
    """A browser-like client: keeps cookies, reads the CSRF token from the last page."""

    def __init__(self, server: LiveServer) -> None:
        self.client = httpx.Client(base_url=server.url + "/dashboard")
        self.csrf = ""

    def get(self, path: str, **params: str) -> httpx.Response:
        answer = self.client.get(path, params=params)
        if token := re.search(r'name="csrf_token" value="([^"]+)"', answer.text):
            self.csrf = token.group(1)
        return answer

    def follow(self, redirect: httpx.Response, **params: str) -> httpx.Response:
        """GET where a 303 points (its Location starts with /dashboard)."""
        assert redirect.status_code == 303, redirect.text
        location = httpx.URL(redirect.headers["location"])
        path = location.path.removeprefix("/dashboard")
        return self.get(path, **dict(location.params), **params)

    def post(self, path: str, data: dict[str, str], **params: str) -> httpx.Response:
        return self.client.post(path, params=params, data={"csrf_token": self.csrf, **data})

    def log_in(self, password: str = PASSWORD) -> httpx.Response:
        self.get("/login")
        return self.post("/login", {"password": password, "next": "/dashboard/"})


def ingest(server: LiveServer, app_id: str, *records: dict[str, object]) -> None:
    answer = httpx.post(
        server.url + "/api/ingest",
        content=json.dumps(batch(app_id, *records)),
        headers={"content-type": "text/plain;charset=UTF-8"},
    )
    assert answer.status_code == 200 and answer.json()["rejected"] == [], answer.text


def create_app(server: LiveServer, name: str, app_id: str) -> str:
    created = run_cli(
        "apps", "create", "--name", name, "--app-id", app_id, "--db", str(server.db_path)
    )
    return str(created[0]["app_id"])


def rows(answer: httpx.Response, attribute: str = "data-event-id") -> list[str]:
    return re.findall(rf'{attribute}="([^"]*)"', answer.text)


def texts(answer: httpx.Response) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", answer.text)))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with start_server(tmp_path_factory.mktemp("dashboard"), "--admin-password", PASSWORD) as live:
        yield live


@pytest.fixture(scope="module")
def shop(server: LiveServer) -> dict[str, dict[str, object]]:
    """App "shop": anonymous 1001 in two sessions, alice (2002) and 3003 who became alice."""
    create_app(server, "Shop", "shop")
    seeded = {
        "old_view": event("1001", "pageview", session_id="s-old", time=OLD, page=page("/")),
        "old_buy": event(
            "1001", "click", session_id="s-old", time=OLD + 1000, target=target(BUY, "Buy now")
        ),
        "view": event(
            "1001", "pageview", session_id="s-new", time=NOW_MS - 60_000, page=page("/cart")
        ),
        "icon_buy": event(
            "1001", "click", session_id="s-new", time=NOW_MS - 50_000, target=target(BUY_ICON, "")
        ),
        "help": event(
            "1001", "click", session_id="s-new", time=NOW_MS - 40_000, target=target(NAV, "Help")
        ),
        "alice_view": event("2002", "pageview", session_id="s-alice", time=NOW_MS - 30_000),
        "signed_up": event(
            "2002", "custom", "Signed up", session_id="s-alice", time=NOW_MS - 20_000
        ),
        "anon_view": event("3003", "pageview", session_id="s-3003", time=NOW_MS - 10_000),
    }
    ingest(server, "shop", *seeded.values())
    ingest(server, "shop", identify("2002", "alice@example.com", time=NOW_MS - 25_000))
    ingest(server, "shop", identify("3003", "alice@example.com", time=NOW_MS - 5_000))
    return seeded


@pytest.fixture(scope="module")
def blog(server: LiveServer) -> str:
    app_id = create_app(server, "Blog", "blog")
    ingest(server, app_id, event("9009", "pageview", session_id="s-blog", page=page("/post")))
    return app_id


@pytest.fixture
def admin(server: LiveServer, shop: dict[str, dict[str, object]], blog: str) -> Admin:
    client = Admin(server)
    assert client.log_in().status_code == 303
    return client


def ids(shop: dict[str, dict[str, object]], *names: str) -> list[str]:
    return [str(shop[name]["event_id"]) for name in names]


# --- login ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/", "/events?type=click", "/users", "/users/1001", "/defined-events", "/defined-events/x"],
)
def test_pages_send_strangers_to_the_login(server: LiveServer, path: str) -> None:
    answer = httpx.get(server.url + "/dashboard" + path)
    assert answer.status_code == 303
    assert (
        answer.headers["location"]
        == f"/dashboard/login?{httpx.QueryParams({'next': '/dashboard' + path})}"
    )


def test_polling_and_posting_without_a_session_are_refused(
    server: LiveServer, shop: object
) -> None:
    assert httpx.get(server.url + "/dashboard/events?partial=rows").status_code == 401
    stranger = Admin(server)
    stranger.get("/login")
    answer = stranger.post("/defined-events", {"name": "Sneaky", "event_type": "click"})
    assert answer.status_code == 401


def test_a_wrong_password_says_so_and_sets_no_session(server: LiveServer) -> None:
    client = Admin(server)
    answer = client.log_in("wrong")
    assert answer.status_code == 401
    assert "Wrong password." in answer.text
    assert 'name="next" value="/dashboard/"' in answer.text  # still going where it was asked
    assert "footfall_session" not in client.client.cookies
    assert client.get("/users").status_code == 303


def test_login_sets_a_signed_httponly_lax_cookie_and_goes_where_asked(server: LiveServer) -> None:
    client = Admin(server)
    client.get("/login")
    answer = client.post("/login", {"password": PASSWORD, "next": "/dashboard/users?app=shop"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/users?app=shop"
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("footfall_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/dashboard" in cookie
    assert client.get("/users").status_code == 200


@pytest.mark.parametrize(
    "wanted", ["https://evil.example/", "//evil.example/dashboard/", "/api/health"]
)
def test_login_never_sends_the_browser_off_the_dashboard(server: LiveServer, wanted: str) -> None:
    client = Admin(server)
    client.get("/login")
    answer = client.post("/login", {"password": PASSWORD, "next": wanted})
    assert answer.headers["location"] == "/dashboard/"


def test_a_forged_or_stale_session_cookie_is_not_a_session(server: LiveServer) -> None:
    client = Admin(server)
    client.client.cookies.set("footfall_session", "99999999999999.deadbeef", path="/dashboard")
    assert client.get("/users").status_code == 303


def test_forms_without_the_csrf_token_are_refused(server: LiveServer) -> None:
    client = Admin(server)
    client.get("/login")
    for token in ("", "0" * 64):
        answer = client.client.post("/login", data={"password": PASSWORD, "csrf_token": token})
        assert answer.status_code == 403
        assert "reload the page" in answer.text
    # A token is bound to the browser's CSRF cookie: another browser's token does not pass.
    other = Admin(server)
    other.get("/login")
    answer = client.client.post("/login", data={"password": PASSWORD, "csrf_token": other.csrf})
    assert answer.status_code == 403


def test_logout_ends_the_session(admin: Admin) -> None:
    admin.get("/")
    answer = admin.post("/logout", {})
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/login"
    assert admin.get("/").status_code == 303


def test_wrong_passwords_are_throttled_per_client(tmp_path: Path) -> None:
    with start_server(tmp_path, "--admin-password", PASSWORD) as live:
        client = Admin(live)
        for _ in range(10):
            assert client.log_in("guess").status_code == 401
        refused = client.log_in(PASSWORD)  # even the right one, until the minute has passed
        assert refused.status_code == 429
        assert "Too many wrong passwords; try again in" in refused.text
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "footfall_session" not in client.client.cookies


def test_a_copied_session_cookie_stops_working_at_logout(server: LiveServer, shop: object) -> None:
    owner = Admin(server)
    assert owner.log_in().status_code == 303
    copied = Admin(server)
    copied.client.cookies.set(
        "footfall_session", owner.client.cookies["footfall_session"], path="/dashboard"
    )
    assert copied.get("/users").status_code == 200  # a copy works while the session lasts
    owner.get("/")
    assert owner.post("/logout", {}).status_code == 303
    assert copied.get("/users").status_code == 303
    assert copied.get("/events", partial="rows").status_code == 401


def test_the_owner_gets_in_while_a_guesser_hammers(tmp_path: Path) -> None:
    with start_server(tmp_path, "--admin-password", PASSWORD) as live:
        owner = Admin(live)
        assert owner.log_in().status_code == 303  # this browser has logged in before
        owner.get("/")
        owner.post("/logout", {})
        guesser = Admin(live)  # the same address (as behind one NAT), but another browser
        answers = [guesser.log_in(f"guess {n}").status_code for n in range(25)]
        assert answers[:10] == [401] * 10 and set(answers[10:]) == {429}
        assert guesser.log_in(PASSWORD).status_code == 429  # guessing costs the guesser
        assert owner.log_in().status_code == 303
        assert owner.get("/users").status_code == 200
        # Wrong passwords from the owner's browser are throttled too, apart from the guesser's.
        answers = [owner.log_in(f"typo {n}").status_code for n in range(11)]
        assert answers[:10] == [401] * 10 and answers[10] == 429


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


@pytest.mark.parametrize(
    "path",
    [
        "/login",
        "/",
        "/events?app=shop",
        "/events?app=shop&partial=rows",
        "/users?app=shop",
        "/users/1001?app=shop",
        "/users/nobody?app=shop",
        "/defined-events?app=shop",
        "/defined-events/nope?app=shop",
        "/events?type=nope",
        "/static/dashboard.css",
        "/no-such-page",
    ],
)
def test_every_dashboard_answer_sends_security_headers(admin: Admin, path: str) -> None:
    answer = admin.client.get(path)
    assert answer.status_code < 500
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers.get(name) == value, (path, name)
    policy = answer.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "default-src 'none'" in policy, path
    assert "frame-ancestors 'none'" in policy
    if "text/html" in answer.headers.get("content-type", ""):
        assert "<script>" not in answer.text and "onchange=" not in answer.text  # CSP blocks them


def test_the_session_cookie_is_secure_behind_a_trusted_https_proxy(
    server: LiveServer, tmp_path: Path
) -> None:
    https = {"x-forwarded-proto": "https"}

    def cookies_set(answer: httpx.Response, name: str) -> str:
        return next(c for c in answer.headers.get_list("set-cookie") if c.startswith(name + "="))

    def login_cookies(live: LiveServer) -> tuple[str, str]:
        client = Admin(live)
        client.client.headers.update(https)
        form = client.get("/login")
        csrf = cookies_set(form, "footfall_csrf")
        # This test speaks plain HTTP to the server, as the proxy does; its browser had HTTPS.
        client.client.cookies.set("footfall_csrf", csrf.split(";")[0].split("=", 1)[1])
        answer = client.post("/login", {"password": PASSWORD, "next": "/dashboard/"})
        assert answer.status_code == 303
        return csrf, cookies_set(answer, "footfall_session")

    # The header from anyone but a trusted proxy is not believed.
    assert not any("Secure" in cookie for cookie in login_cookies(server))
    with start_server(
        tmp_path, "--admin-password", PASSWORD, "--trusted-proxy", "127.0.0.1"
    ) as behind_proxy:
        assert all("Secure" in cookie for cookie in login_cookies(behind_proxy))


def test_the_generated_admin_password_is_printed_and_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FOOTFALL_ADMIN_PASSWORD", raising=False)
    with start_server(tmp_path) as live:
        log = next(tmp_path.glob("server-*.log")).read_text()
        printed = re.search(r"admin password \(generated\): (\S+)", log)
        assert printed, log
        assert Admin(live).log_in(printed.group(1)).status_code == 303
        assert Admin(live).log_in(PASSWORD).status_code == 401


def test_the_admin_password_can_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOOTFALL_ADMIN_PASSWORD", "from-env")
    with start_server(tmp_path) as live:
        assert "generated" not in next(tmp_path.glob("server-*.log")).read_text()
        assert Admin(live).log_in("from-env").status_code == 303


# --- live events ---------------------------------------------------------------------------------


def test_live_events_are_newest_first(admin: Admin, shop: dict[str, dict[str, object]]) -> None:
    answer = admin.get("/events", app="shop")
    assert answer.status_code == 200
    expected = ids(
        shop,
        "anon_view",
        "signed_up",
        "alice_view",
        "help",
        "icon_buy",
        "view",
        "old_buy",
        "old_view",
    )
    assert rows(answer) == expected
    assert 'id="event-rows" data-refresh-ms="2000"' in answer.text
    assert 'src="/dashboard/static/dashboard.js"' in answer.text


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"type": "click"}, ["help", "icon_buy", "old_buy"]),
        ({"type": "custom"}, ["signed_up"]),
        ({"name": "SIGN"}, ["signed_up"]),
        ({"name": "page", "type": "pageview"}, ["anon_view", "alice_view", "view", "old_view"]),
        ({"user": "1001", "type": "pageview"}, ["view", "old_view"]),
        # an identity names the canonical user, with the history merged into it
        ({"user": "alice@example.com"}, ["anon_view", "signed_up", "alice_view"]),
        # a merged user's id names the user it was merged into
        ({"user": "3003"}, ["anon_view", "signed_up", "alice_view"]),
        ({"user": "nobody"}, []),
    ],
)
def test_live_events_filter_by_type_name_and_user(
    admin: Admin, shop: dict[str, dict[str, object]], filters: dict[str, str], expected: list[str]
) -> None:
    answer = admin.get("/events", app="shop", **filters)
    assert rows(answer) == ids(shop, *expected)


def test_an_unknown_user_filter_says_so(admin: Admin) -> None:
    answer = admin.get("/events", app="shop", user="nobody")
    assert "No user with id or identity “nobody”" in texts(answer)


def test_events_name_users_as_heap_does(admin: Admin) -> None:
    page_text = texts(admin.get("/events", app="shop"))
    assert "User 1001" in page_text and "alice@example.com" in page_text
    assert "User 3003" not in page_text  # merged into alice


def test_the_live_poll_returns_only_rows_and_sees_new_events(
    admin: Admin, server: LiveServer
) -> None:
    ingest(server, "blog", fresh := event("9010", "custom", "Fresh", time=NOW_MS + 1000))
    answer = admin.get("/events", app="blog", partial="rows")
    assert answer.status_code == 200
    assert answer.text.lstrip().startswith("<tr") and "<html" not in answer.text
    assert rows(answer)[0] == fresh["event_id"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"type": "hover"}, "type must be one of"),
        ({"before": "yesterday"}, "before must look like"),
        ({"before": "123:"}, "before must look like"),
        ({"before": "\u00b2:x"}, "before must look like"),  # "²".isdigit() is True
        ({"before": "9" * 25 + ":x"}, "before must look like"),  # no SQLite integer
        ({"before": "9" * 5000 + ":x"}, "before must look like"),  # past int()'s digit limit
    ],
)
def test_bad_event_filters_get_a_clear_error(
    admin: Admin, params: dict[str, str], message: str
) -> None:
    answer = admin.get("/events", app="shop", **params)
    assert answer.status_code == 400 and message in answer.text


def test_older_events_page_back_without_losing_or_repeating_any(
    admin: Admin, server: LiveServer
) -> None:
    create_app(server, "Bulk", "bulk")
    # 150 events, many sharing one millisecond, so the cursor must break ties by event id.
    sent = [event("4004", "custom", f"n{i}", time=NOW_MS - i // 7) for i in range(150)]
    ingest(server, "bulk", *sent)
    first = admin.get("/events", app="bulk")
    older = re.search(r'href="[^"]*before=([^"&]+)', first.text)
    assert len(rows(first)) == 100 and older
    second = admin.get(
        "/events", app="bulk", before=html.unescape(older.group(1)).replace("%3A", ":")
    )
    assert "Back to live" in texts(second) and "setInterval" not in second.text
    seen = rows(first) + rows(second)
    assert len(seen) == len(set(seen)) == 150
    assert set(seen) == {record["event_id"] for record in sent}


# --- users and timelines -------------------------------------------------------------------------


def test_users_are_canonical_with_heap_names_and_counts(admin: Admin) -> None:
    answer = admin.get("/users", app="shop")
    found = re.findall(r'<a href="/dashboard/users/(\w+)\?app=shop">([^<]+)</a>', answer.text)
    assert found == [("2002", "alice@example.com"), ("1001", "User 1001")]
    counts = re.findall(r'<td class="num">(\d+)</td>', answer.text)
    assert counts == ["3", "5"]  # alice has 3003's pageview after the merge


@pytest.mark.parametrize(("q", "expected"), [("alice", ["2002"]), ("100", ["1001"]), ("zed", [])])
def test_users_search(admin: Admin, q: str, expected: list[str]) -> None:
    answer = admin.get("/users", app="shop", q=q)
    assert re.findall(r'<td class="mono">(\w+)</td>', answer.text) == expected


@pytest.mark.parametrize(
    "number", ["0", "\u00b2", "9" * 25, "9" * 5000], ids=["zero", "superscript", "25", "5000"]
)
def test_bad_users_page_number_gets_a_clear_error(admin: Admin, number: str) -> None:
    answer = admin.get("/users", app="shop", page=number)
    assert answer.status_code == 400 and "page must be a whole number" in answer.text


def test_a_timeline_groups_events_by_session_newest_session_first(
    admin: Admin, shop: dict[str, dict[str, object]]
) -> None:
    answer = admin.get("/users/1001", app="shop")
    assert answer.status_code == 200
    assert "<h1>User 1001</h1>" in answer.text
    assert rows(answer, "data-session-id") == ["s-new", "s-old"]
    assert rows(answer) == ids(shop, "view", "icon_buy", "help", "old_view", "old_buy")


def test_a_merged_user_leads_to_the_user_it_became(
    admin: Admin, shop: dict[str, dict[str, object]]
) -> None:
    answer = admin.client.get("/users/3003", params={"app": "shop"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/users/2002?app=shop&merged_from=3003"
    timeline = admin.get("/users/2002", app="shop", merged_from="3003")
    assert "User 3003 was merged into this user." in texts(timeline)
    assert rows(timeline, "data-session-id") == ["s-3003", "s-alice"]
    assert "Merged users 3003" in texts(timeline)


def test_an_unknown_user_is_a_clear_404(admin: Admin) -> None:
    answer = admin.get("/users/5555", app="shop")
    assert answer.status_code == 404 and "No user 5555 in app shop." in answer.text


# --- overview, chart, apps ------------------------------------------------------------------------


def chart_total(answer: httpx.Response) -> int:
    found = re.search(r'aria-label="[^"]*: (\d+) in all"', answer.text)
    assert found, answer.text
    return int(found.group(1))


def test_the_overview_charts_event_counts_over_time(admin: Admin) -> None:
    week = admin.get("/", app="shop")
    assert week.status_code == 200 and "<svg" in week.text
    assert chart_total(week) == 8
    assert len(re.findall(r'<rect class="bar"', week.text)) == 7
    day = admin.get("/", app="shop", range="24h")
    assert chart_total(day) == 6  # the two events three days ago fall outside
    assert len(re.findall(r'<rect class="bar"', day.text)) == 24
    assert re.search(r'id="total-events">8<', week.text)
    assert re.search(r'id="total-users">2<', week.text)  # 1001 and alice; 3003 became alice
    shop_row = re.search(
        r'<td class="mono">shop</td>\s*<td class="num">(\d+)</td>\s*'
        r'<td class="num">(\d+)</td>',
        week.text,
    )
    assert shop_row and shop_row.groups() == ("8", "2")


def test_a_bad_range_gets_a_clear_error(admin: Admin) -> None:
    answer = admin.get("/", app="shop", range="1y")
    assert answer.status_code == 400 and "range must be one of 24h, 7d, 30d" in answer.text


def test_the_app_picker_switches_apps(admin: Admin, shop: object) -> None:
    answer = admin.get("/events", app="blog")
    assert '<select id="app-picker" name="app"' in answer.text
    assert re.search(r'<option value="blog" selected>', answer.text)
    assert "Shop (shop)" in texts(answer)
    assert all(
        user == "9009" or user == "9010" for user in re.findall(r"User (\d+)", texts(answer))
    )
    # Links keep the app.
    assert 'href="/dashboard/users?app=blog"' in answer.text


def test_an_unknown_app_is_a_clear_404(admin: Admin) -> None:
    answer = admin.get("/events", app="nope")
    assert answer.status_code == 404 and "No app with id nope." in answer.text


# --- defined events ------------------------------------------------------------------------------


def define(admin: Admin, app_id: str, **fields: str) -> httpx.Response:
    admin.get("/defined-events", app=app_id)
    return admin.post("/defined-events", fields, app=app_id)


def defined_count(answer: httpx.Response) -> int:
    found = re.search(r'id="defined-count">(\d+)<', answer.text)
    assert found, answer.text
    return int(found.group(1))


def test_a_defined_event_counts_events_stored_before_it(
    admin: Admin, server: LiveServer, shop: dict[str, dict[str, object]]
) -> None:
    answer = define(
        admin, "shop", name="Buy clicks", event_type="click", selector="form#checkout > #buy"
    )
    assert answer.status_code == 303
    detail = admin.follow(answer)
    # both buys: one on the button, one on the icon inside it
    assert defined_count(detail) == 2
    assert rows(detail) == ids(shop, "icon_buy", "old_buy")
    assert chart_total(detail) == 2
    assert chart_total(admin.follow(answer, range="24h")) == 1

    listing = admin.get("/defined-events", app="shop")
    assert "Buy clicks" in listing.text
    assert re.findall(r'class="num count">(\d+)<', listing.text) == ["2"]

    # and it keeps counting what arrives afterwards
    ingest(
        server, "shop", event("1001", "click", session_id="s-new", target=target(BUY, "Buy now"))
    )
    assert defined_count(admin.follow(answer)) == 3


@pytest.fixture(scope="module")
def criteria_app(server: LiveServer) -> str:
    """App "criteria": two pageviews, a buy on /cart, a help click on /, a submit."""
    app_id = create_app(server, "Criteria", "criteria")
    ingest(
        server,
        app_id,
        event("6006", "pageview", page=page("/cart")),
        event("6006", "pageview", page=page("/")),
        event("6006", "click", page=page("/cart"), target=target(BUY, "Buy now")),
        event("6006", "click", page=page("/"), target=target(NAV, "Help")),
        event(
            "6006", "submit", page=page("/cart"), target=target("@div;#root;|@form;#checkout;|", "")
        ),
        # text that JSON escapes or keeps as it is: quotes, backslashes, non-ASCII
        event("6006", "click", page=page("/"), target=target(ODD, 'Say "hi" \\ to Ärger')),
    )
    return app_id


@pytest.mark.parametrize(
    ("fields", "count"),
    [
        ({"target_text": "Help"}, 1),
        ({"target_text": "help"}, 0),
        ({"url_contains": "/cart"}, 3),
        ({"url_contains": "/cart", "event_type": "pageview"}, 1),
        ({"event_type": "pageview"}, 2),
        ({"selector": "#root"}, 3),
        ({"selector": "#checkout"}, 2),
        ({"selector": "#checkout", "event_type": "submit"}, 1),
        ({"selector": "nav a.nav[href=/help]", "event_type": "click"}, 1),
        ({"selector": "#root > a"}, 0),
        ({"selector": "#Ärger a.größe"}, 1),
        ({"selector": 'a[title=\'say "hi"\'][data-x="a\\b"]'}, 1),
        ({"target_text": 'Say "hi" \\ to Ärger'}, 1),
    ],
)
def test_defined_event_criteria(
    admin: Admin, criteria_app: str, fields: dict[str, str], count: int
) -> None:
    name = "criteria " + json.dumps(fields)
    assert define(admin, "blog", name=name, **fields).status_code == 303
    # definitions belong to one app: the same name is free in another
    detail = admin.follow(define(admin, criteria_app, name=name, **fields))
    assert defined_count(detail) == count


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"name": "Hover", "selector": "a:hover"}, 400, "CSS selector: the pseudo-class ':hover'"),
        ({"name": "", "selector": "#buy"}, 400, "name must not be empty"),
        ({"name": "Empty"}, 400, "give at least one of"),
        ({"name": "Odd", "event_type": "scroll"}, 400, "type must be one of"),
    ],
)
def test_a_bad_definition_is_refused_with_its_reason_and_keeps_the_form(
    admin: Admin, fields: dict[str, str], status: int, message: str
) -> None:
    answer = define(admin, "shop", **fields)
    assert answer.status_code == status
    assert message in texts(answer)
    for key, value in fields.items():
        if value and key != "event_type":
            assert f'value="{html.escape(value)}"' in answer.text
    assert fields["name"] not in re.findall(
        r'data-defined-event-id="[^"]+">\s*<td><a[^>]*>([^<]*)', answer.text
    )


def test_a_duplicate_name_is_refused(admin: Admin) -> None:
    assert define(admin, "shop", name="Twice", event_type="submit").status_code == 303
    answer = define(admin, "shop", name="Twice", event_type="change")
    assert answer.status_code == 409
    assert "this app already has a defined event named 'Twice'" in texts(answer)


def test_a_definition_needs_the_csrf_token(admin: Admin) -> None:
    admin.get("/defined-events", app="shop")
    answer = admin.client.post(
        "/defined-events", params={"app": "shop"}, data={"name": "No token", "event_type": "click"}
    )
    assert answer.status_code == 403
    assert "No token" not in admin.get("/defined-events", app="shop").text


def test_deleting_a_definition_keeps_the_events(admin: Admin) -> None:
    created = define(admin, "shop", name="Short-lived", event_type="click")
    detail = admin.follow(created)
    delete_path = re.search(
        r'action="(/dashboard/defined-events/\w+/delete\?app=shop)"', detail.text
    )
    assert delete_path
    answer = admin.client.post(
        delete_path.group(1).removeprefix("/dashboard"), data={"csrf_token": admin.csrf}
    )
    assert answer.status_code == 303
    assert "Short-lived" not in admin.get("/defined-events", app="shop").text
    assert admin.follow(created).status_code == 404
    assert len(rows(admin.get("/events", app="shop", type="click"))) >= 3
