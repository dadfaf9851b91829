"""Autocapture and pageviews in a real browser: capture paths, SPA navigation, UTM parameters.

Tests taking `analytics` read what was captured through the pytest plugin (their demo page's
snippet routed to its collector); the others through `footfall events` on the module's server."""

import json

import pytest

from collector.dashboard.definitions import Definition, MatchableEvent, matchable_event, matcher_for
from footfall_pytest import Analytics
from tests.browser.conftest import Demo

pytestmark = pytest.mark.browser


def test_click_on_inner_element_is_captured_on_the_eligible_ancestor(demo: Demo) -> None:
    demo.open()
    demo.page.evaluate(
        "document.querySelector('#buy-yoyo').innerHTML = 'Add <span id=inner>to cart</span>'"
    )
    demo.page.click("#inner")
    demo.page.click("#gift-card h2")  # an element styled cursor: pointer
    demo.page.click("#ignored-button")  # under heap-ignore
    demo.page.click("h1")  # not interactive: a click on the heading itself
    demo.events(lambda found: sum(event["type"] == "click" for event in found) >= 3)
    demo.page.wait_for_timeout(1500)  # time for a wrongly captured click to arrive too
    clicks = [event for event in demo.events() if event["type"] == "click"]
    hierarchies = [click["target"]["hierarchy"] for click in clicks]
    assert len(clicks) == 3, hierarchies
    assert (clicks[0]["target"]["tag"], clicks[0]["target"]["id"]) == ("button", "buy-yoyo")
    assert "#gift-card;" in clicks[1]["target"]["hierarchy"]  # the pointer-styled tile
    assert not any("ignored-button" in hierarchy for hierarchy in hierarchies)
    assert clicks[0]["target"]["text"] == "Add to cart"
    assert (clicks[2]["target"]["tag"], clicks[2]["target"]["text"]) == ("h1", "Footfall demo shop")


def test_every_click_is_captured_with_where_it_happened_and_definitions_count_it(
    demo: Demo,
) -> None:
    demo.open()
    demo.page.evaluate(
        """() => {
        const card = document.createElement('div');
        card.id = 'plan-card';
        card.className = 'plan';
        card.style.padding = '12px';
        card.setAttribute('data-heap-redact-attributes', 'title');
        card.innerHTML = '<p class=blurb title="4111 1111 1111 1111">Pro plan, ' +
            'card 4111-1111-1111-1111, <span data-heap-redact-text>kate@example.com</span></p>';
        document.querySelector('#root').append(card);
    }"""
    )
    demo.page.click("#plan-card p.blurb", position={"x": 3, "y": 3})
    demo.page.click("#plan-card", position={"x": 2, "y": 2})  # on the div, beside the <p>
    demo.page.click("p >> nth=0")  # the shop's intro paragraph

    def three_clicks(found: list[dict]) -> bool:
        return sum(event["type"] == "click" for event in found) >= 3

    clicks = [event for event in demo.events(three_clicks) if event["type"] == "click"]
    targets = [(click["target"]["tag"], click["target"]["class"]) for click in clicks]
    assert targets == [("p", "blurb"), ("div", "plan"), ("p", "")]
    blurb = clicks[0]["target"]
    assert blurb["hierarchy"] == "@div;#root;|@div;#plan-card;.plan;|@p;.blurb;|"  # no title
    assert blurb["text"] == "Pro plan, card ,"  # the card number and the marked text removed
    assert "4111" not in json.dumps(clicks)

    # The dashboard's defined events count clicks on a <div> and a <p> by their hierarchy.
    counted = {
        selector: sum(matcher_for(Definition("d", "click", selector)).matches(stored(click))
                      for click in clicks)
        for selector in ("#plan-card", "div.plan > p.blurb", "#root > p", "p")
    }  # fmt: skip
    assert counted == {"#plan-card": 2, "div.plan > p.blurb": 1, "#root > p": 1, "p": 2}


def stored(event: dict) -> MatchableEvent:
    """What the dashboard reads of an exported event."""
    target = event["target"]
    return matchable_event(event["type"], event["page"]["url"], target["hierarchy"], target["text"])


def test_change_carries_no_value_and_submit_is_captured(demo: Demo, analytics: Analytics) -> None:
    demo.open()
    demo.page.fill("#q", "furby secret query")
    demo.page.press("#q", "Tab")  # fires change
    demo.page.click("#search button")  # fires submit
    change = analytics.wait_for(type="change", target__id="q")
    assert change["target"]["tag"] == "input"
    assert change["target"]["text"] == ""
    submit = analytics.wait_for(type="submit", target__id="search")
    assert (submit["target"]["tag"], submit["name"]) == ("form", "submit")
    analytics.assert_never_sent("furby secret query")


def test_spa_navigation_makes_pageviews_on_path_and_hash_changes(demo: Demo) -> None:
    demo.open("spa.html")
    demo.page.click("#to-products")  # pushState to a new path
    demo.page.click("#replace-query")  # replaceState that changes only the query: no pageview
    demo.page.click("#to-reviews")  # hash change
    demo.page.click("#go-back")  # popstate back to #-less products path
    expected = 4  # load, products, #reviews, back to products

    def enough(found: list[dict]) -> bool:
        return sum(event["type"] == "pageview" for event in found) >= expected

    demo.events(enough)
    demo.page.wait_for_timeout(1000)
    pageviews = [event for event in demo.events() if event["type"] == "pageview"]
    paths = [(event["page"]["path"], event["page"]["hash"]) for event in pageviews]
    assert paths == [
        ("/demo/spa.html", ""),
        ("/demo/spa.html/products", ""),
        ("/demo/spa.html/products", "#reviews"),
        ("/demo/spa.html/products", ""),
    ]
    assert pageviews[1]["page"]["title"] == "SPA products"
    assert pageviews[2]["page"]["query"].endswith("sort=price")
    assert len({event["pageview_id"] for event in pageviews}) == expected
    assert len({event["session_id"] for event in pageviews}) == 1
    id_cookie = demo.cookie_json("_hp2_id")
    assert isinstance(id_cookie, dict)
    assert id_cookie["pageviewId"] == pageviews[-1]["pageview_id"]


def test_utm_parameters_become_campaign_properties(demo: Demo, analytics: Analytics) -> None:
    demo.open("", "utm_source=newsletter&utm_campaign=fall-sale&utm_medium=email")
    pageview = analytics.wait_for(type="pageview", properties__utm_source="newsletter")
    assert pageview["properties"]["utm_campaign"] == "fall-sale"
    assert pageview["properties"]["utm_medium"] == "email"
    assert pageview["page"]["query"].startswith("?app=")


def test_a_link_click_that_leaves_the_page_is_captured(demo: Demo) -> None:
    # A real network: the next page takes 40 ms to arrive (loopback answers in ~1 ms, sooner than
    # a worker can turn a click into an event; a click on an instant navigation can still be lost).
    cdp = demo.page.context.new_cdp_session(demo.page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 40, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    for _ in range(3):  # a race with the page unloading would show up as a lost click
        demo.open()
        user_id = demo.page.evaluate("heap.userId")
        demo.page.click("a.nav-signup")
        demo.page.wait_for_url("**/form.html")
    clicks = demo.events(lambda found: sum(e["type"] == "click" for e in found) >= 3)
    links = [event for event in clicks if event["type"] == "click"]
    assert len(links) == 3
    assert all(event["target"]["href"] == "/demo/form.html" for event in links)
    assert all(event["user_id"] == user_id for event in links)


def test_redact_text_markers_are_decided_by_their_value(demo: Demo) -> None:
    # The loader reports each marker's value; only "false" leaves the text in.
    buttons = {
        "rt-false": (
            '<button id=rt-false data-heap-redact-text="false">Buy now</button>',
            "Buy now",
        ),
        "rt-empty": ('<button id=rt-empty data-heap-redact-text="">Buy now</button>', ""),
        "rt-true": ('<button id=rt-true data-heap-redact-text="true">Buy now</button>', ""),
        "rt-above": ("<div data-heap-redact-text><button id=rt-above>Buy now</button></div>", ""),
        "rt-inner-false": (
            '<button id=rt-inner-false>Buy <b data-heap-redact-text=" FALSE ">now</b></button>',
            "Buy now",
        ),
        "rt-inner": ("<button id=rt-inner>Buy <b data-heap-redact-text>secret</b></button>", "Buy"),
    }
    demo.open()
    html = "".join(markup for markup, _ in buttons.values())
    demo.page.evaluate("html => document.body.insertAdjacentHTML('beforeend', html)", html)
    for button_id in buttons:
        demo.page.click(f"#{button_id}")
    events = demo.events(lambda found: sum(e["type"] == "click" for e in found) >= len(buttons))
    texts = {e["target"]["id"]: e["target"]["text"] for e in events if e["type"] == "click"}
    assert texts == {button_id: text for button_id, (_, text) in buttons.items()}
