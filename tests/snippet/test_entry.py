"""The worker's entry point: boot, later messages, and never raising into JavaScript."""

import json
from urllib.parse import unquote

from snippet.entry import start
from tests.snippet.fake_browser import (
    FakeBrowser,
    boot,
    boot_message,
    call,
    el,
    interaction,
    message,
    navigate,
)


def test_boot_sends_pageview_click_and_track_in_one_first_batch() -> None:
    browser = FakeBrowser()
    boot(
        browser,
        [
            navigate("https://shop.example.com/cart?utm_source=news", title="Cart"),
            interaction("click", el("button", "Buy", id="buy")),
            call("track", "Purchase", {"dollars": 50}),
        ],
    )
    assert [url for url, _ in browser.sent] == ["http://127.0.0.1:8000/api/ingest"]
    body = json.loads(browser.sent[0][1])
    assert body["app_id"] == "123" and body["library"] == "footfall-web/0.1.0"
    pageview, click, track = body["records"]
    assert (pageview["type"], click["type"], track["type"]) == ("pageview", "click", "custom")
    assert pageview["properties"] == {"utm_source": "news"}
    assert pageview["page"]["path"] == "/cart" and pageview["page"]["query"] == "?utm_source=news"
    assert click["target"]["id"] == "buy" and click["target"]["text"] == "Buy"
    assert track["name"] == "Purchase" and track["properties"] == {"dollars": 50}
    assert len({pageview["user_id"], click["user_id"], track["user_id"]}) == 1
    assert click["pageview_id"] == pageview["pageview_id"]
    assert [op["op"] for op in browser.ops[-2:]] == ["ready", "handled"]
    assert browser.state()["user_id"] == pageview["user_id"]


def test_cookies_wait_for_the_probed_domain_then_carry_the_ids() -> None:
    browser = FakeBrowser()
    receiver = boot(browser, [navigate()])
    probe = browser.ops_of("probe_cookie_domain")
    assert probe == [
        {
            "op": "probe_cookie_domain",
            "candidates": ["example.com", "shop.example.com"],
            "name": "_hp2_hld.123",
            "attributes": "SameSite=Lax",
        }
    ]
    assert browser.cookie_assignments() == []
    receiver.receive(message({"kind": "cookie_domain", "domain": "example.com"}))
    by_name = {c.split("=", 1)[0]: c for c in browser.cookie_assignments()}
    assert set(by_name) == {"_hp2_id.123", "_hp2_ses_props.123", "_hp2_props.123"}
    value = json.loads(unquote(by_name["_hp2_id.123"].split(";")[0].split("=", 1)[1]))
    event = browser.events()[0]
    assert value == {
        "userId": event["user_id"],
        "pageviewId": event["pageview_id"],
        "sessionId": event["session_id"],
        "identity": None,
        "trackerVersion": "4.0",
    }
    assert "; path=/; domain=example.com; expires=" in by_name["_hp2_id.123"]
    assert by_name["_hp2_id.123"].endswith("; SameSite=Lax")


def test_a_bad_boot_message_warns_and_later_messages_are_ignored() -> None:
    browser = FakeBrowser()
    receiver = start("{not json", browser, browser.run_task)
    receiver.receive(message(navigate()))
    assert browser.sent == []
    assert len(browser.warnings()) == 1 and "not JSON" in browser.warnings()[0]


def test_a_bad_record_costs_only_itself() -> None:
    browser = FakeBrowser()
    receiver = boot(browser, [navigate()])
    receiver.receive(
        message(
            {"kind": "teleport"},
            interaction("click", el("a", href="/x"), url=3),  # type: ignore[arg-type]
            call("track", "Still counted"),
        )
    )
    receiver.receive("[]")
    browser.advance(1)
    assert [e["name"] for e in browser.events()] == ["pageview", "Still counted"]
    assert browser.warnings() == [
        "ignored a record: unknown record kind 'teleport'",
        "ignored a record: click record needs a 'page' with a string 'url'",
        "ignored a message: message must be a JSON object",
    ]


def test_boot_without_boot_field_warns() -> None:
    browser = FakeBrowser()
    start(json.dumps({"cookies": "", "records": []}), browser, browser.run_task)
    assert browser.warnings() == ["not tracking: the first message must carry 'boot'"]
    # The same records with a `boot` do start it: the warning is the missing field's.
    bootable = FakeBrowser()
    start(boot_message([], seq=1), bootable, bootable.run_task)
    assert bootable.warnings() == [] and bootable.ops[-2:] == [
        {"op": "ready"},
        {"op": "handled", "seq": 1},
    ]
