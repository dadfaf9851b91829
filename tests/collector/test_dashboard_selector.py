"""The defined-event selector language: CSS matched on Heap's hierarchy string read back."""

import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.dashboard.selector import (
    Compound,
    Selector,
    SelectorError,
    ascii_lower,
    matches_hierarchy,
    parse_selector,
    required_substrings,
)
from snippet.hierarchy import HierarchyElement, parse_hierarchy

SHOP = "@div;#root;|@form;#checkout;.card;[action=/pay];|@button;#buy;.btn;.primary;[type=submit];|"
NESTED = "@main;|@ul;.menu;|@li;.item;|@a;.link;[href=/a];|@span;.icon;|"


@pytest.mark.parametrize(
    ("selector", "hierarchy", "matches"),
    [
        # tag, id, class, attributes, alone and compound
        ("button", SHOP, True),
        ("BUTTON", SHOP, True),
        ("a", SHOP, False),
        ("#buy", SHOP, True),
        ("#sell", SHOP, False),
        (".btn", SHOP, True),
        (".btn.primary", SHOP, True),
        (".btn.secondary", SHOP, False),
        ("button#buy.btn.primary[type=submit]", SHOP, True),
        ("button#buy[type=button]", SHOP, False),
        ("[type]", SHOP, True),
        ("[name]", SHOP, False),
        ('[type="submit"]', SHOP, True),
        ("[type='submit']", SHOP, True),
        ("[ type = submit ]", SHOP, True),
        ("[TYPE=submit]", SHOP, True),
        ("[type=SUBMIT]", SHOP, False),
        ("*", SHOP, True),
        ("*#buy", SHOP, True),
        # descendant and child combinators
        ("div button", SHOP, True),
        ("#root #buy", SHOP, True),
        ("div > form > button", SHOP, True),
        ("div > button", SHOP, False),
        ("form.card > #buy", SHOP, True),
        ("div form button", SHOP, True),
        ("button form", SHOP, False),
        ("#checkout > .btn", SHOP, True),
        ("form[action=/pay] button", SHOP, True),
        ("form[action=/refund] button", SHOP, False),
        # an ancestor matching counts: a click inside a matching element is a click on it
        ("form#checkout", SHOP, True),
        ("a.link", NESTED, True),
        ("ul.menu > li a", NESTED, True),
        ("ul.menu > a", NESTED, False),
        ("li > a > span.icon", NESTED, True),
        ("main li.item > a[href=/a]", NESTED, True),
        # backtracking: the first ancestor that fits is not always the one that works
        ("div > p span", "@div;|@p;|@section;|@p;|@span;|", True),
        ("div > p > span", "@div;|@p;|@section;|@p;|@span;|", False),
        ("section > p > span", "@div;|@p;|@section;|@p;|@span;|", True),
        # nothing to match against
        ("button", "", False),
        # escapes: a Tailwind class with a colon
        (".md\\:flex", "@div;.md:flex;|", True),
    ],
)
def test_selector_matches_hierarchy(selector: str, hierarchy: str, matches: bool) -> None:
    assert matches_hierarchy(parse_selector(selector), parse_hierarchy(hierarchy)) is matches


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("", "the selector is empty"),
        ("   ", "the selector is empty"),
        ("a:hover", "the pseudo-class ':hover' is not supported"),
        ("li:nth-child(2)", "the pseudo-class ':nth-child' is not supported"),
        ("p::before", "the pseudo-class '::before' is not supported"),
        ("a, button", "a list of selectors (',') is not supported"),
        ("h1 + p", "the sibling combinator '+' is not supported"),
        ("h1 ~ p", "the sibling combinator '~' is not supported"),
        ("a[href^=/cart]", "attribute test '^=' is not supported"),
        ("a[href*=cart]", "attribute test '*=' is not supported"),
        ("a[href", "expected ']' to close [href"),
        ("a[href=/cart", "expected ']' to close [href=...]"),
        ('a[title="Buy]', "the quoted value starting at position 9 is not closed"),
        ("a[=x]", "expected an attribute name"),
        ("a[href=]", "expected a value after 'href='"),
        ("a..btn", "expected a name after '.'"),
        ("#", "expected a name after '#'"),
        ("a#one#two", "an element has one id"),
        ("div >", "the selector ends with '>'"),
        ("> a", "'>' at position 1 is not supported"),
        ("body .btn", "'body' never matches"),
        ("html > body > a", "'html' never matches"),
        ("a|b", "'|' at position 2 is not supported"),
    ],
)
def test_unsupported_selectors_are_refused_with_a_reason(selector: str, message: str) -> None:
    with pytest.raises(SelectorError) as refused:
        parse_selector(selector)
    assert message in str(refused.value)


def test_every_refusal_names_what_is_supported_or_what_is_wrong() -> None:
    with pytest.raises(SelectorError, match=r"use tag, #id, \.class, \[attr\] and \[attr=value\]"):
        parse_selector("a:focus")


@pytest.mark.parametrize(
    ("selector", "needed"),
    [
        ("*", ()),
        ("BUTTON#Buy.btn[Type=Submit]", ("@button", "#buy", ".btn", "[type=submit")),
        ("form > a[href]", ("@form", "@a", "[href")),
        (".b.a", (".a", ".b")),
        ("#Ärger", ("#Ärger",)),  # only A-Z are lowered, as SQLite's lower() does
    ],
)
def test_required_substrings(selector: str, needed: tuple[str, ...]) -> None:
    assert required_substrings(parse_selector(selector)) == needed


_NAMES = st.sampled_from(["a", "div", "Btn", "buy", "x-y", "Ä", "data-k", "HREF", "İ"])
_ELEMENTS = st.lists(
    st.tuples(
        _NAMES,
        st.one_of(st.just(""), _NAMES),
        st.lists(_NAMES, max_size=2),
        st.lists(st.tuples(_NAMES, st.one_of(st.just(""), _NAMES)), max_size=2),
    ),
    min_size=1,
    max_size=4,
)


def _hierarchy(elements: list[tuple[str, str, list[str], list[tuple[str, str]]]]) -> str:
    text = ""
    for tag, id_, classes, attrs in elements:
        text += f"@{tag};" + (f"#{id_};" if id_ else "")
        text += "".join(f".{name};" for name in classes)
        text += "".join(f"[{name}={value}];" for name, value in attrs) + "|"
    return text


@given(elements=_ELEMENTS, data=st.data())
@settings(max_examples=300, deadline=None)
def test_every_hierarchy_a_selector_matches_holds_its_required_substrings(
    elements: list[tuple[str, str, list[str], list[tuple[str, str]]]], data: st.DataObject
) -> None:
    """SQL skips events missing a required substring, so this must never drop a real match."""
    try:
        text, selector = _selector_from(elements, data)
    except SelectorError:
        return
    hierarchy = _hierarchy(elements)
    if matches_hierarchy(selector, parse_hierarchy(hierarchy)):
        lowered = ascii_lower(hierarchy)
        assert all(needed in lowered for needed in required_substrings(selector)), text


@given(elements=_ELEMENTS, data=st.data())
@settings(max_examples=300, deadline=None)
def test_matching_agrees_with_trying_every_chain_of_elements(
    elements: list[tuple[str, str, list[str], list[tuple[str, str]]]], data: st.DataObject
) -> None:
    try:
        _, selector = _selector_from(elements, data)
    except SelectorError:
        return
    parsed = parse_hierarchy(_hierarchy(elements))
    compounds, combinators = selector.compounds, selector.combinators

    def chain_matches(chain: tuple[int, ...]) -> bool:
        steps = zip(chain, chain[1:], combinators, strict=False)
        return all(c.matches(parsed[i]) for c, i in zip(compounds, chain, strict=True)) and all(
            combinator == " " or inner == outer + 1 for outer, inner, combinator in steps
        )

    chains = itertools.combinations(range(len(parsed)), len(compounds))
    assert matches_hierarchy(selector, parsed) == any(map(chain_matches, chains))


def _selector_from(
    elements: list[tuple[str, str, list[str], list[tuple[str, str]]]], data: st.DataObject
) -> tuple[str, Selector]:
    """A selector built from parts of the hierarchy itself, so that matches are common."""
    chosen = data.draw(st.lists(st.sampled_from(elements), min_size=1, max_size=3))
    parts = []
    for tag, id_, classes, attrs in chosen:
        part = tag if data.draw(st.booleans()) else "*"
        part += f"#{id_}" if id_ and data.draw(st.booleans()) else ""
        part += "".join(f".{name}" for name in classes if data.draw(st.booleans()))
        for name, value in attrs:
            part += f"[{name}={value}]" if value and data.draw(st.booleans()) else f"[{name}]"
        parts.append(part)
    combinators = [data.draw(st.sampled_from([" ", " > "])) for _ in parts[1:]]
    text = parts[0] + "".join(c + p for c, p in zip(combinators, parts[1:], strict=True))
    return text, parse_selector(text)


@dataclass(frozen=True)
class CountedCompound(Compound):
    """A compound that counts how often it is tested against an element."""

    tests: list[int] = field(default_factory=lambda: [0], compare=False)

    def matches(self, element: HierarchyElement) -> bool:
        self.tests[0] += 1
        return super().matches(element)


def counted(selector: Selector) -> tuple[Selector, list[int]]:
    tests = [0]
    compounds = tuple(
        CountedCompound(c.tag, c.id, c.classes, c.attrs, tests) for c in selector.compounds
    )
    return Selector(compounds, selector.combinators), tests


# What an anonymous sender controls: the hierarchy, up to the collector's 8192 characters.
DIVS = "@div;.a;|" * 900 + "@span;|"


@pytest.mark.parametrize(
    "selector",
    ["b div div div span", "b > div div > div div *", "b * * * * * * *", "b .a .a .a span"],
)
@pytest.mark.parametrize(
    "hierarchy",
    [DIVS, DIVS[:4500] + "|@span;|", "@div;|" * 1365 + "@span;|"],
    ids=["classed", "half", "bare"],
)
def test_matching_takes_steps_linear_in_the_hierarchy(selector: str, hierarchy: str) -> None:
    elements = parse_hierarchy(hierarchy)
    parsed, tests = counted(parse_selector(selector))
    assert not matches_hierarchy(parsed, elements)
    # Each compound is tested against each element at most once.
    assert tests[0] <= len(parsed.compounds) * len(elements)
