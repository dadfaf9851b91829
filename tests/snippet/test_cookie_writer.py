"""Cookie writes: held for the probed domain, only changes, expiry everywhere, other tabs."""

import pytest

from snippet.cookie_writer import CookieWriter
from tests.snippet.fake_browser import FakeBrowser

EXPIRES = 1_700_000_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT


def writer(
    hostname: str = "shop.example.com", attributes: str = "SameSite=Lax"
) -> tuple[FakeBrowser, CookieWriter]:
    browser = FakeBrowser()
    return browser, CookieWriter(
        browser, hostname=hostname, probe_name="_hp2_hld.1", attributes=attributes
    )


def write(cookies: CookieWriter, **values: str) -> None:
    cookies.write(values, lambda name: EXPIRES)


def test_writes_wait_for_the_domain_and_the_probe_is_asked_once() -> None:
    browser, cookies = writer()
    write(cookies, a="1")
    write(cookies, a="2")
    assert browser.ops == [
        {
            "op": "probe_cookie_domain",
            "candidates": ["example.com", "shop.example.com"],
            "name": "_hp2_hld.1",
            "attributes": "SameSite=Lax",
        }
    ]
    assert cookies.set_domain("example.com") is None
    write(cookies, a="2")
    assert browser.cookie_assignments() == [
        "a=2; path=/; domain=example.com; expires=Tue, 14 Nov 2023 22:13:20 GMT; SameSite=Lax"
    ]


def test_only_changed_values_are_written() -> None:
    browser, cookies = writer(hostname="localhost")  # host-only: no probe needed
    write(cookies, a="1", b="1")
    write(cookies, a="1", b="2")
    write(cookies, a="1", b="2")
    assert [c.split(";")[0] for c in browser.cookie_assignments()] == ["a=1", "b=1", "b=2"]
    assert browser.ops_of("probe_cookie_domain") == []


@pytest.mark.parametrize(
    ("answer", "domain", "problem"),
    [
        ("example.com", "example.com", None),
        ("shop.example.com", "shop.example.com", None),
        ("", "", None),
        (
            "evil.example",
            "",
            "cookie domain 'evil.example' was not a candidate; using host-only cookies",
        ),
    ],
)
def test_the_probe_answer(answer: str, domain: str, problem: str | None) -> None:
    _, cookies = writer()
    assert cookies.set_domain(answer) == problem
    assert cookies.domain == domain


def test_expiring_covers_host_only_and_every_candidate_and_allows_rewriting() -> None:
    browser, cookies = writer(attributes="Secure; SameSite=None")
    cookies.set_domain("example.com")
    write(cookies, a="1")
    cookies.expire(["a"])
    write(cookies, a="1")
    later, gone, tail = (
        "Tue, 14 Nov 2023 22:13:20 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "Secure; SameSite=None",
    )
    assert browser.cookie_assignments() == [
        f"a=1; path=/; domain=example.com; expires={later}; {tail}",
        f"a=; path=/; expires={gone}; {tail}",
        f"a=; path=/; domain=example.com; expires={gone}; {tail}",
        f"a=; path=/; domain=shop.example.com; expires={gone}; {tail}",
        f"a=1; path=/; domain=example.com; expires={later}; {tail}",
    ]


@pytest.mark.parametrize(
    ("jar", "changed"),
    [
        ({"a": "boot", "b": "x"}, {}),  # nothing moved since boot
        ({"a": "mine-1"}, {}),  # our own write arriving late
        ({"a": "mine-2"}, {}),
        ({"a": "theirs"}, {"a": "theirs"}),  # another tab wrote it
        ({"a": "boot", "b": "theirs"}, {}),  # not a watched name
        ({}, {}),  # deleted: consent handles deletions
    ],
)
def test_telling_another_tabs_writes_from_ours(
    jar: dict[str, str], changed: dict[str, str]
) -> None:
    _, cookies = writer(hostname="localhost")
    cookies.saw({"a": "boot", "b": "x"})
    write(cookies, a="mine-1")
    write(cookies, a="mine-2")
    assert cookies.changed_elsewhere(jar, ["a"]) == changed


def test_a_value_seen_once_is_not_foreign_the_next_time() -> None:
    _, cookies = writer(hostname="localhost")
    cookies.saw({})
    assert cookies.changed_elsewhere({"a": "theirs"}, ["a"]) == {"a": "theirs"}
    assert cookies.changed_elsewhere({"a": "theirs"}, ["a"]) == {}
