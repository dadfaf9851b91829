"""The small state every backend keeps: apps and their bridge origins, API tokens, the
installation secret, admin sessions and defined events."""

from collections.abc import Callable

import pytest

from collector.clock import now_ms
from collector.storage.base import Definition, Storage
from tests.run_async import run_async


def test_apps_are_created_found_listed_and_their_ids_checked(storage: Storage) -> None:
    shop = run_async(storage.create_app("Shop", "shop"))
    generated = run_async(storage.create_app("Blog"))
    assert generated.app_id.isdigit() and len(generated.api_key) == 32
    assert run_async(storage.find_app("shop")) == shop
    assert run_async(storage.find_app("nope")) is None
    assert run_async(storage.ensure_app("shop", "Other name")) == shop
    assert run_async(storage.list_apps()) == [shop, generated]
    with pytest.raises(ValueError, match="already taken"):
        run_async(storage.create_app("Again", "shop"))
    with pytest.raises(ValueError, match="letters, digits"):
        run_async(storage.create_app("Bad", "a b"))


def test_an_app_made_by_another_collector_is_found(open_shared: Callable[[], Storage]) -> None:
    serving, cli = open_shared(), open_shared()
    assert run_async(serving.find_app("late")) is None
    run_async(cli.create_app("Late", "late"))
    found = run_async(serving.find_app("late"))
    assert found is not None and found.name == "Late"


def test_bridge_origins_are_added_and_removed(storage: Storage) -> None:
    run_async(storage.create_app("Shop", "shop"))
    allowed = ["https://a.example", "https://b.example"]
    assert run_async(storage.change_bridge_origins("shop", allowed)) == allowed
    after = run_async(storage.change_bridge_origins("shop", [], ["https://a.example"]))
    assert after == ["https://b.example"] == run_async(storage.bridge_origins("shop"))
    with pytest.raises(ValueError, match="footfall apps create"):
        run_async(storage.change_bridge_origins("nope", allowed))


def test_tokens_name_their_app_until_they_expire(storage: Storage) -> None:
    live = run_async(storage.issue_token("shop", 60_000))
    expired = run_async(storage.issue_token("shop", -1))
    assert run_async(storage.token_app(live)) == "shop"
    assert run_async(storage.token_app(expired)) is None
    assert run_async(storage.token_app("made-up")) is None


def test_the_installation_secret_is_made_once(open_shared: Callable[[], Storage]) -> None:
    first = run_async(open_shared().installation_secret())
    assert len(first) == 32
    assert run_async(open_shared().installation_secret()) == first


def test_admin_sessions_live_until_ended_expired_or_the_password_changes(
    storage: Storage,
) -> None:
    now = now_ms()
    run_async(storage.start_admin_session("k1", "tag", now + 60_000, now))
    run_async(storage.start_admin_session("k2", "tag", now + 60_000, now))
    assert run_async(storage.admin_session_is_live("k1", "tag", now))
    assert not run_async(storage.admin_session_is_live("k1", "other tag", now))
    assert not run_async(storage.admin_session_is_live("k1", "tag", now + 60_000))
    run_async(storage.end_admin_session("k1"))
    assert not run_async(storage.admin_session_is_live("k1", "tag", now))
    assert run_async(storage.admin_session_is_live("k2", "tag", now))


def test_defined_events_are_kept_per_app_by_unique_name(storage: Storage) -> None:
    buy = Definition("buy", event_type="click", selector="#buy", target_text="Buy")
    cart = Definition("Cart", url_contains="/cart")
    buy_id = run_async(storage.create_defined_event("shop", buy, 1))
    cart_id = run_async(storage.create_defined_event("shop", cart, 2))
    assert buy_id and cart_id and buy_id != cart_id
    assert run_async(storage.create_defined_event("shop", Definition("buy", "pageview"), 3)) is None
    assert run_async(storage.create_defined_event("blog", buy, 4))  # another app's names
    rows = run_async(storage.defined_events("shop"))
    assert [(row.definition, row.created_at) for row in rows] == [(buy, 1), (cart, 2)]
    found = run_async(storage.find_defined_event("shop", cart_id))
    assert found is not None and found.definition == cart
    assert run_async(storage.find_defined_event("blog", cart_id)) is None
    assert run_async(storage.delete_defined_event("shop", cart_id))
    assert not run_async(storage.delete_defined_event("shop", cart_id))
    assert [row.defined_event_id for row in run_async(storage.defined_events("shop"))] == [buy_id]
