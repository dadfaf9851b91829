"""Secrets typed and shown in every redacted place never leave the page, nor land anywhere.

The test types and shows secret strings, interacts with every redacted control, and then proves
with the pytest plugin's `analytics.assert_never_sent` that the secrets are in no request body,
cookie, web storage, or byte of the SQLite files, while the interactions themselves were captured
(so the test cannot pass by capturing nothing). The demo pages' snippets are routed to the
plugin's collector.
"""

import html
import random
import re
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote_plus

import pytest

from footfall_pytest import Analytics
from snippet.sensitive_numbers import luhn_valid
from tests.browser.conftest import Demo
from tests.snippet.test_sensitive_numbers import SEPARATOR_CHARS

pytestmark = pytest.mark.browser

TYPED = {
    "#password": "Hunter2-Secret-Pw",
    "#card": "4242 4242 4242 4242",
    "#ssn": "078-05-1120",
    "#notes": "Notes-Secret-Text",
}
SHOWN = [
    "hidden-token-value",  # a hidden input's value
    "12345-SECRET",  # text under data-heap-redact-text
    "cust-secret",  # attributes named by data-heap-redact-attributes
    "title-secret",
    "4111 1111 1111 1111",  # a card number in button text
    "4111111111111111",
    "219-09-9999",  # an SSN in button text and in the page URL
]
SECRETS = [*TYPED.values(), *SHOWN]


def sqlite_bytes(db_path: Path) -> bytes:
    files = [db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")]
    return b"".join(path.read_bytes() for path in files if path.exists())


def test_secrets_in_redacted_places_appear_nowhere(demo: Demo, analytics: Analytics) -> None:
    demo.open("form.html", "ref=219-09-9999")
    for selector, secret in TYPED.items():
        demo.page.fill(selector, secret)
        demo.page.press(selector, "Tab")  # a change event on every field
    demo.page.fill("#email", "pat@example.com")
    demo.page.click("#reveal-account")
    demo.page.click("#use-card")
    demo.page.click("#submit-signup")

    analytics.wait_for(type="submit")
    analytics.wait_for(type="change", target__tag="textarea")
    password_change = analytics.wait_for(type="change", target__tag="input")
    assert password_change["target"]["id"] == ""  # sensitive fields give nothing but their tag
    use_card = analytics.wait_for(type="click", target__id="use-card")
    assert use_card["target"]["text"].startswith("Pay with")
    reveal = analytics.wait_for(type="click", target__id="reveal-account")
    assert reveal["target"]["text"].startswith("Show account")
    demo.page.goto("about:blank")  # pagehide: the unload beacon goes out too
    demo.page.wait_for_timeout(500)
    demo.open("form.html")  # back on the site, whose storage is then read too

    analytics.assert_never_sent(*SECRETS)


def test_disable_text_capture_and_secure_cookie_in_a_cross_site_iframe(
    demo: Demo, analytics: Analytics
) -> None:
    demo.page.goto(demo.url("embed.html"))
    app = demo.page.frame_locator("#airkit-app")
    frame = next(f for f in demo.page.frames if "airkit-app.html" in f.url)
    frame.wait_for_function("window.heap && heap.ready === true", timeout=30_000)
    app.locator("#book").click()

    analytics.wait_for(name="Appointment booked")
    click = analytics.wait_for(type="click", target__id="book")
    assert click["target"]["text"] == ""  # disableTextCapture
    assert analytics.identity_of(frame) == "alice@example.com"
    analytics.assert_never_sent("Alice Example", "4111 1111")

    frame_host = frame.url.split("//")[1].split(":")[0]
    cookies = {
        cookie["name"]: cookie
        for cookie in demo.page.context.cookies()
        if cookie["domain"].lstrip(".") == frame_host
    }
    id_cookie = cookies[f"_hp2_id.{demo.app_id}"]
    assert id_cookie["secure"] is True
    assert id_cookie["sameSite"] == "None"
    assert id_cookie["path"] == "/"


def written_with_random_separators(digits: str, groups: list[int], rng: random.Random) -> str:
    """`digits` in groups of the given sizes, generated separators (one to three) between."""
    parts, start = [], 0
    for size in groups:
        parts.append(digits[start : start + size])
        start += size
    gaps = ["".join(rng.choices(SEPARATOR_CHARS, k=rng.randint(1, 3))) for _ in parts[1:]]
    return parts[0] + "".join(gap + part for gap, part in zip(gaps, parts[1:], strict=True))


def spread_out(secret: str) -> re.Pattern[str]:
    """The secret's digits in order with anything but digits, a little of it, between them."""
    return re.compile(r"\D{0,16}".join(re.sub(r"\D", "", secret)))


def found_digits(patterns: list[re.Pattern[str]], haystack: str) -> list[str]:
    """The patterns found in the haystack, as a server would decode it (%XX and entities)."""
    for _ in range(3):
        haystack = unquote_plus(html.unescape(haystack))
    return [pattern.pattern for pattern in patterns if pattern.search(haystack)]


SHADOW_AND_FRIENDS = """([textParts, attrValue, shadowText, title, query]) => {
    const text = document.createElement('button');
    text.id = 'gen-text';
    for (const part of textParts) {
        const span = document.createElement('span');
        span.textContent = part;
        text.append(span);
    }
    const attr = document.createElement('button');
    attr.id = 'gen-attr';
    attr.textContent = 'Details';
    attr.setAttribute('data-note', attrValue);
    attr.setAttribute('title', attrValue);
    const host = document.createElement('div');
    host.id = 'gen-host';
    const inner = document.createElement('button');
    inner.id = 'gen-shadow';
    inner.textContent = shadowText;
    host.attachShadow({mode: 'open'}).append(inner);
    document.body.append(text, attr, host);
    document.title = title;
    history.pushState(null, '', location.pathname + location.search + '&' + query);
}"""


@pytest.mark.parametrize("seed", [1])
def test_generated_card_and_ssn_spellings_appear_nowhere(demo: Demo, seed: int) -> None:
    rng = random.Random(seed)
    body = "".join(rng.choices("0123456789", k=15))
    card = body + next(d for d in "0123456789" if luhn_valid(body + d))
    ssn = "".join(rng.choices("0123456789", k=9))
    spellings = {
        "text": written_with_random_separators(card, [4, 4, 4, 4], rng),
        "attribute": written_with_random_separators(card, [4, 6, 6], rng),
        "shadow": written_with_random_separators(ssn, [3, 2, 4], rng),
        "title": written_with_random_separators(card, [4, 4, 4, 4], rng),
        "url": written_with_random_separators(ssn, [3, 2, 4], rng),
        "referrer": written_with_random_separators(card, [4, 4, 4, 4], rng),
    }
    bodies: list[str] = []
    demo.page.context.on("request", lambda request: bodies.append(request.post_data or ""))
    demo.page.goto(demo.url(), referer="https://ref.example.com/?c=" + quote(spellings["referrer"]))
    demo.page.wait_for_function("heap.ready === true", timeout=30_000)
    text = spellings["text"]
    demo.page.evaluate(
        SHADOW_AND_FRIENDS,
        [
            [text[:7], text[7:13], text[13:]],  # groups split across elements
            spellings["attribute"],
            "SSN " + spellings["shadow"],
            "Order " + spellings["title"],
            "ssn=" + quote_plus(spellings["url"]),
        ],
    )
    for button in ("#gen-text", "#gen-attr", "#gen-shadow"):
        demo.page.click(button)

    def captured(found: list[dict]) -> bool:
        clicked = {e["target"]["tag"] for e in found if e["type"] == "click"}
        return len([e for e in found if e["type"] == "click"]) >= 3 and clicked == {"button"}

    events = demo.events(captured)
    assert captured(events), events
    assert any("Order" in e["page"]["title"] for e in events if e["type"] == "click")
    demo.page.goto("about:blank")  # pagehide: the unload beacon goes out too
    demo.page.wait_for_timeout(500)

    secrets = [spread_out(card), spread_out(ssn)]
    assert found_digits(secrets, "\n".join(bodies)) == [], spellings
    cookies = "\n".join(f"{c['name']}={c['value']}" for c in demo.page.context.cookies())
    assert found_digits(secrets, cookies) == []
    demo.open()
    storage = demo.page.evaluate(
        "JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"
    )
    assert found_digits(secrets, storage) == []
    stored = sqlite_bytes(demo.server.db_path).decode("utf-8", "replace")
    assert "Order" in stored  # the file does hold the captured events
    assert found_digits(secrets, stored) == [], spellings
