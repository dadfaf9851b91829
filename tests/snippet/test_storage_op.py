"""The `storage` op: Python tells the worker whether the page may keep the boot snapshot, at boot
(before `ready`) and again whenever consent changes the answer (docs/protocol.md, sections 2, 5)."""

from typing import Any

import pytest

from tests.snippet.fake_browser import FakeBrowser, boot, call, message, navigate

CONSENT_IN = "_ff_consent.123=1"
CONSENT_OUT = "_ff_consent.123=0"


def may_store(browser: FakeBrowser) -> list[Any]:
    return [op["may_store"] for op in browser.ops_of("storage")]


@pytest.mark.parametrize(
    ("config", "cookies", "boot_calls", "later", "expected"),
    [
        ({}, "", [], [], [True]),
        ({"requireConsent": True}, "", [], [], [False]),
        ({"requireConsent": True}, CONSENT_IN, [], [], [True]),
        ({}, CONSENT_OUT, [], [], [False]),
        ({"requireConsent": True}, "", [call("optIn")], [], [True]),
        ({}, "", [call("optOut")], [], [False]),
        ({"requireConsent": True}, "", [], [call("optIn")], [False, True]),
        ({}, "", [], [call("optOut"), call("optOut")], [True, False]),
        ({}, "", [], [call("optOut"), call("optIn")], [True, False, True]),
        ({}, "", [], [call("identify", "alice@example.com")], [True]),  # consent unchanged
    ],
)
def test_may_store_follows_consent(
    config: dict[str, object],
    cookies: str,
    boot_calls: list[dict[str, Any]],
    later: list[dict[str, Any]],
    expected: list[bool],
) -> None:
    browser = FakeBrowser()
    receiver = boot(browser, [navigate(), *boot_calls], cookies=cookies, config=config)
    ops = [op["op"] for op in browser.ops]
    assert ops.index("storage") < ops.index("ready")
    for record in later:
        receiver.receive(message(record, cookies=cookies))
    assert may_store(browser) == expected


def test_another_tabs_opt_out_withdraws_it() -> None:
    browser = FakeBrowser()
    receiver = boot(browser, [navigate()])
    receiver.receive(message(cookies=CONSENT_OUT))
    assert may_store(browser) == [True, False]


def test_no_tracker_no_permission() -> None:
    browser = FakeBrowser()
    boot(browser, [navigate()], app_id="")  # refused at boot: nothing runs, nothing is allowed
    assert any(w.startswith("not tracking") for w in browser.warnings())
    assert may_store(browser) == []
