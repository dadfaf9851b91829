"""heap.load's `preset`: expanded by Python, overridden by the options beside it."""

import pytest

from snippet.presets import PRESETS, apply_preset
from tests.snippet.fake_browser import FakeBrowser, boot, el, interaction, message, navigate


def test_airkit_preset_turns_on_secure_cookies_and_redacted_text() -> None:
    config, problem = apply_preset({"preset": "airkit"})
    assert problem is None
    assert config == {"secureCookie": True, "disableTextCapture": True}


@pytest.mark.parametrize("key", ["secureCookie", "disableTextCapture"])
def test_an_option_beside_the_preset_overrides_it(key: str) -> None:
    config, problem = apply_preset({"preset": "airkit", key: False, "trackingServer": "x"})
    assert problem is None
    assert config[key] is False
    assert config["trackingServer"] == "x"
    assert "preset" not in config


@pytest.mark.parametrize("name", ["Airkit", "air kit", "", 1, True, ["airkit"], {"a": 1}])
def test_an_unknown_preset_is_one_problem_and_no_preset(name: object) -> None:
    config, problem = apply_preset({"preset": name, "requireConsent": True})
    assert config == {"requireConsent": True}
    assert problem is not None and "no preset applied" in problem and "'airkit'" in problem


def test_no_preset_leaves_the_config_alone() -> None:
    assert apply_preset({"secureCookie": True}) == ({"secureCookie": True}, None)
    assert "airkit" in PRESETS


def test_airkit_preset_in_a_cross_site_iframe_writes_partitioned_secure_cookies() -> None:
    browser = FakeBrowser()
    receiver = boot(browser, [navigate()], config={"preset": "airkit"}, in_iframe=True)
    [probe] = browser.ops_of("probe_cookie_domain")
    assert probe["attributes"] == "Secure; SameSite=None; Partitioned"
    receiver.receive(message({"kind": "cookie_domain", "domain": "example.com"}))
    assigned = browser.cookie_assignments()
    assert assigned
    assert all(c.endswith("; Secure; SameSite=None; Partitioned") for c in assigned)
    assert browser.warnings() == []


def test_airkit_preset_first_party_is_secure_but_not_partitioned() -> None:
    browser = FakeBrowser()
    receiver = boot(browser, [navigate()], config={"preset": "airkit"})
    receiver.receive(message({"kind": "cookie_domain", "domain": "example.com"}))
    assigned = browser.cookie_assignments()
    assert assigned and all(c.endswith("; Secure; SameSite=None") for c in assigned)


def test_airkit_preset_redacts_clicked_text() -> None:
    browser = FakeBrowser()
    receiver = boot(browser, [navigate()], config={"preset": "airkit"})
    receiver.receive(message(interaction("click", el("button", "Alice Example", id="b"))))
    browser.advance(60)
    [click] = [e for e in browser.events() if e["type"] == "click"]
    assert "Alice" not in str(click)


def test_an_unknown_preset_warns_once_and_tracks_without_it() -> None:
    browser = FakeBrowser()
    receiver = boot(browser, [navigate()], config={"preset": "airkitt"}, in_iframe=True)
    receiver.receive(message({"kind": "cookie_domain", "domain": "example.com"}))
    assert [w for w in browser.warnings() if "preset" in w] == [
        "config.preset 'airkitt' is not a preset this tracker knows ('airkit'); no preset applied"
    ]
    assert all("Secure" not in c for c in browser.cookie_assignments())
