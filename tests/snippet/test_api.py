"""The heap.* calls: argument checks, identity transitions (seed 002, 003)."""

import pytest

from snippet.api import (
    check_identify,
    check_properties,
    check_property_name,
    check_track,
    identify_change,
)


@pytest.mark.parametrize(
    ("args", "ok", "name", "properties", "problems"),
    [
        (
            ["Purchase", {"dollars": 50, "item": "Furby"}],
            True,
            "Purchase",
            {"dollars": 50, "item": "Furby"},
            [],
        ),
        (["Purchase"], True, "Purchase", {}, []),
        (["Purchase", None], True, "Purchase", {}, []),
        (["Nested", {"a": {"b": 1}, "gone": None}], True, "Nested", {"a.b": 1}, []),
        (
            ["Mixed", {"good": "x", "bad": {"deep": object()}, "long": "y" * 1024}],
            True,
            "Mixed",
            {"good": "x"},
            [
                "property 'bad.deep' must be a string, number or boolean, got object",
                "property 'long' is longer than 1023 characters",
            ],
        ),
        (["x" * 255], True, "x" * 255, {}, []),
        (["x" * 256], False, "", {}, ["event name is 256 characters; the limit is 255"]),
        ([], False, "", {}, ["event name must be a string, got null"]),
        ([42], False, "", {}, ["event name must be a string, got number"]),
        (["  "], False, "", {}, ["event name must not be empty"]),
        (["click"], False, "", {}, ["event name 'click' is reserved for autocaptured events"]),
        (
            ["pageview"],
            False,
            "",
            {},
            ["event name 'pageview' is reserved for autocaptured events"],
        ),
        (["Click"], True, "Click", {}, []),
        (["Purchase", "cheap"], True, "Purchase", {}, ["properties must be an object, got string"]),
    ],
)
def test_track(
    args: list[object], ok: bool, name: str, properties: dict[str, object], problems: list[str]
) -> None:
    checked = check_track(args)
    assert (checked.ok, checked.value, checked.properties, checked.problems) == (
        ok,
        name,
        properties,
        problems,
    )


@pytest.mark.parametrize(
    ("args", "identity"),
    [
        (["alice@example.com"], "alice@example.com"),
        (["Alice@Example.com"], "Alice@Example.com"),  # case-sensitive
        ([12345], "12345"),
        ([12345.0], "12345"),
        (["x" * 254], "x" * 254),
    ],
)
def test_identify_accepts(args: list[object], identity: str) -> None:
    assert check_identify(args).value == identity


@pytest.mark.parametrize(
    "args",
    [
        [],
        [""],
        ["   "],
        ["undefined"],
        ["null"],
        ["user"],
        ["guest"],
        ["Anonymous"],
        ["0"],
        [0],
        ["[object Object]"],
        ["NaN"],
        ["None"],
        ["true"],
        ["false"],
        ["'null'"],
        [True],
        [None],
        [{"id": 1}],
        [1.5],
        ["x" * 255],
    ],
)
def test_identify_refuses(args: list[object]) -> None:
    checked = check_identify(args)
    assert not checked.ok and len(checked.problems) == 1


@pytest.mark.parametrize(
    ("current", "new", "change"),
    [
        (None, "alice", "first"),  # anonymous → identity (new or existing: the collector merges)
        ("alice", "alice", "same"),  # no-op
        ("alice", "Alice", "switch"),  # case-sensitive: a different person
        ("kate", "jack", "switch"),  # identified → different identity: a new user from here
    ],
)
def test_identify_transitions(current: str | None, new: str, change: str) -> None:
    assert identify_change(current, new) == change


@pytest.mark.parametrize(
    ("args", "user", "ok", "properties", "problems"),
    [
        ([{"plan": "Pro", "seats": 3}], True, True, {"plan": "Pro", "seats": 3}, []),
        (
            [{"user_id": "5", "plan": "Pro"}],
            True,
            True,
            {"plan": "Pro"},
            ["'user_id' cannot be used as a property key"],
        ),
        ([{"bio": "x" * 256}], True, False, {}, ["property 'bio' is longer than 255 characters"]),
        ([{"bio": "x" * 256}], False, True, {"bio": "x" * 256}, []),
        ([{"Logged In": True}], False, True, {"Logged In": True}, []),
        ([{}], False, False, {}, []),
        ([], False, False, {}, ["properties must be an object, got nothing"]),
        ([None], True, False, {}, ["properties must be an object, got nothing"]),
        ([["a"]], False, False, {}, ["properties must be an object, got array"]),
    ],
)
def test_property_calls(
    args: list[object], user: bool, ok: bool, properties: dict[str, object], problems: list[str]
) -> None:
    checked = check_properties(args, user=user)
    assert (checked.ok, checked.properties, checked.problems) == (ok, properties, problems)


@pytest.mark.parametrize(
    ("args", "ok"), [(["Logged In"], True), ([""], False), ([], False), ([3], False)]
)
def test_property_names(args: list[object], ok: bool) -> None:
    assert check_property_name(args).ok is ok
