"""URL parts, which navigations are pageviews, and UTM campaigns."""

import pytest

from snippet.pageview import (
    PageParts,
    page_parts,
    starts_pageview,
    utm_properties,
)
from snippet.wire import PAGE_TEXT_MAX


def parts(url: str, title: str = "", referrer: str = "") -> PageParts:
    return page_parts({"url": url, "title": title, "referrer": referrer})


@pytest.mark.parametrize(
    ("url", "domain", "path", "query", "hash"),
    [
        ("https://shop.example.com/cart?a=1#top", "shop.example.com", "/cart", "?a=1", "#top"),
        ("https://shop.example.com", "shop.example.com", "/", "", ""),
        ("https://shop.example.com/?#", "shop.example.com", "/", "", ""),
        ("http://127.0.0.1:8000/demo/", "127.0.0.1", "/demo/", "", ""),
        ("https://app.example.com/#/practice/dash", "app.example.com", "/", "", "#/practice/dash"),
        ("about:blank", "", "blank", "", ""),
        ("https://[bad/", "", "", "", ""),  # unparsable host: url kept, parts empty
    ],
)
def test_url_parts(url: str, domain: str, path: str, query: str, hash: str) -> None:
    got = parts(url, "T", "https://ref.example/")
    assert (got.url, got.domain, got.path, got.query, got.hash) == (url, domain, path, query, hash)
    assert (got.title, got.referrer) == ("T", "https://ref.example/")


def test_huge_page_strings_are_cut_so_their_events_still_go_out() -> None:
    got = parts(
        "https://shop.example.com/?q=" + "a" * 20_000, "T" * 5000, "https://r/" + "b" * 9000
    )
    assert len(got.url) == len(got.title) == len(got.referrer) == PAGE_TEXT_MAX
    assert (got.domain, got.path) == ("shop.example.com", "/")


def test_card_and_ssn_numbers_are_scrubbed_from_url_title_and_referrer() -> None:
    got = parts(
        "https://shop.example.com/pay?card=4111-1111-1111-1111&n=123-45-6789",
        "Order 4111 1111 1111 1111",
        "https://ref.example/?ssn=123-45-6789",
    )
    assert got.url == "https://shop.example.com/pay?card=&n="
    assert got.query == "?card=&n="
    assert got.title == "Order "
    assert got.referrer == "https://ref.example/?ssn="


A = parts("https://s.example/a?x=1#one")


@pytest.mark.parametrize(
    ("cause", "current", "new_url", "pageview"),
    [
        ("load", A, "https://s.example/a?x=1#one", True),  # a load is always a pageview
        ("pushState", None, "https://s.example/a", True),  # nothing seen yet
        ("pushState", A, "https://s.example/b?x=1#one", True),  # path changed
        ("hashchange", A, "https://s.example/a?x=1#two", True),  # hash changed
        ("replaceState", A, "https://s.example/a?x=2#one", False),  # only the query changed
        ("popstate", A, "https://s.example/a?x=1#one", False),  # nothing changed
        ("pushState", A, "https://other.example/a?x=1#one", False),  # Heap: path or hash only
    ],
)
def test_which_navigations_are_pageviews(
    cause: str, current: PageParts | None, new_url: str, pageview: bool
) -> None:
    assert starts_pageview(cause, current, parts(new_url)) is pageview


@pytest.mark.parametrize(
    ("query", "utm"),
    [
        ("", {}),
        ("?a=1", {}),
        (
            "?utm_source=news&utm_medium=email&utm_campaign=spring&utm_term=yoyo&utm_content=top",
            {
                "utm_source": "news",
                "utm_medium": "email",
                "utm_campaign": "spring",
                "utm_term": "yoyo",
                "utm_content": "top",
            },
        ),
        ("?utm_source=a&utm_source=b", {"utm_source": "a"}),
        ("?utm_source=spring%20sale+2", {"utm_source": "spring sale 2"}),
        ("?utm_source=", {}),
        ("?utm_other=x&UTM_SOURCE=y", {}),
        ("?utm_source=" + "x" * 2000, {"utm_source": "x" * 1023}),
    ],
)
def test_utm_properties(query: str, utm: dict[str, str]) -> None:
    assert utm_properties(query) == utm
