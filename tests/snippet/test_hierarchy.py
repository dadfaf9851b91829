"""Heap's hierarchy string: built from elements, parsed back, and the two agree."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snippet.hierarchy import (
    HierarchyElement,
    build_hierarchy,
    element_selector,
    parse_hierarchy,
)
from snippet.inbound import Element
from snippet.wire import TARGET_TEXT_MAX


@pytest.mark.parametrize(
    ("element", "selector"),
    [
        (Element("div", {"id": "root"}), "@div;#root;|"),
        (Element("span"), "@span;|"),
        (
            Element(
                "a",
                {"class": "nav-link-subscribe btn-primary", "href": "/login", "target": "_blank"},
            ),
            "@a;.btn-primary;.nav-link-subscribe;[href=/login];[target=_blank];|",
        ),
        (Element("p", {"class": "  b a  a "}), "@p;.a;.b;|"),  # sorted, deduplicated
        (
            Element(
                "input",
                {
                    "type": "text",
                    "name": "q",
                    "style": "color:red",
                    "value": "typed",
                    "onclick": "go()",
                    "data-heap-redact-text": "true",
                    "heap-ignore": "false",
                    "aria-label": "Search",
                },
            ),
            "@input;[aria-label=Search];[name=q];[type=text];|",
        ),
        (Element("div", {"id": ""}), "@div;|"),
        # What would end a part early is escaped, so it parses back (see test_parse_hierarchy).
        (Element("a", {"data-x": "1];x"}), r"@a;[data-x=1\];x];|"),
        (Element("a", {"id": "a;b|c", "class": "x;y"}), r"@a;#a\;b\|c;.x\;y;|"),
    ],
)
def test_element_selector(element: Element, selector: str) -> None:
    assert element_selector(element) == selector


def test_hierarchy_is_outermost_first_and_ends_with_the_target() -> None:
    chain = [
        Element("a", {"id": "buy", "class": "btn primary", "href": "/cart"}),
        Element("nav", {"id": "primary-navigation", "class": "navigation"}),
        Element("div", {"id": "root"}),
    ]
    assert build_hierarchy(chain) == (
        "@div;#root;|@nav;#primary-navigation;.navigation;|@a;#buy;.btn;.primary;[href=/cart];|"
    )


def test_ancestors_stop_before_passing_1024_characters() -> None:
    wide = Element("div", {"class": "x" * 500})  # 510 characters each
    target = Element("button", {"id": "go"})
    hierarchy = build_hierarchy([target, wide, wide, wide])
    assert hierarchy == element_selector(wide) + element_selector(target)
    assert len(hierarchy) <= TARGET_TEXT_MAX


def test_exactly_1024_characters_fits() -> None:
    target = Element("b")  # "@b;|" is 4 characters
    filler = Element("i", {"class": "y" * (TARGET_TEXT_MAX - 4 - len("@i;.;|"))})
    assert len(build_hierarchy([target, filler])) == TARGET_TEXT_MAX


def test_a_target_longer_than_the_limit_is_cut() -> None:
    huge = Element("div", {"title": "z" * 5000})
    assert len(build_hierarchy([huge, Element("main")])) == TARGET_TEXT_MAX


@pytest.mark.parametrize(
    ("hierarchy", "expected"),
    [
        ("", ()),
        ("@div;|", (HierarchyElement(tag="div"),)),
        (
            "@div;#root;|@a;#buy;.btn;.primary;[href=/cart];|",
            (
                HierarchyElement(tag="div", id="root"),
                HierarchyElement(
                    tag="a",
                    id="buy",
                    classes=frozenset({"btn", "primary"}),
                    attrs=(("href", "/cart"),),
                ),
            ),
        ),
        # Attribute values may hold ';', '|' and '=': they run to the closing '];'.
        (
            "@a;[href=/x?a=1;b=2|c];[target=_blank];|",
            (HierarchyElement(tag="a", attrs=(("href", "/x?a=1;b=2|c"), ("target", "_blank"))),),
        ),
        ("@INPUT;[Disabled=];|", (HierarchyElement(tag="input", attrs=(("disabled", ""),)),)),
        # A string cut at 1024 characters still yields what it holds.
        (
            "@div;#root;|@a;.bt",
            (
                HierarchyElement(tag="div", id="root"),
                HierarchyElement(tag="a", classes=frozenset({"bt"})),
            ),
        ),
        (
            "@a;[href=/never-closed",
            (HierarchyElement(tag="a", attrs=(("href", "/never-closed"),)),),
        ),
        # Escapes: what would end a part early is escaped with a backslash.
        (
            r"@a;#x\;y;.a\|b;[data-x=1\];x];[a\=b=c\\];|",
            (
                HierarchyElement(
                    tag="a",
                    id="x;y",
                    classes=frozenset({"a|b"}),
                    attrs=(("data-x", "1];x"), ("a=b", "c\\")),
                ),
            ),
        ),
        # Stored before escaping: a lone ']' and a backslash before anything else are kept.
        (
            r"@a;[data-i=a[0]];[title=C:\path];|",
            (HierarchyElement(tag="a", attrs=(("data-i", "a[0]"), ("title", r"C:\path"))),),
        ),
    ],
)
def test_parse_hierarchy(hierarchy: str, expected: tuple[HierarchyElement, ...]) -> None:
    assert parse_hierarchy(hierarchy) == expected


# Text for ids, attribute values and the like: Heap's separators, escapes, quotes, unicode, empty.
TRICKY = st.text(st.sampled_from(list(";[]=|@#.\"'\\ _-")) | st.characters(), max_size=12)
CLASS_NAMES = st.lists(
    TRICKY.filter(lambda name: name != "" and not any(char.isspace() for char in name)),
    max_size=3,
)
# Attribute names the hierarchy keeps (it leaves out id, class, style, value, on* and data-heap-*).
ATTRIBUTE_NAMES = TRICKY.filter(
    lambda name: (
        name.lower() not in ("id", "class", "style", "value", "heap-ignore")
        and not name.startswith(("on", "data-heap-"))
    )
)


@st.composite
def elements(draw: st.DrawFn) -> Element:
    attrs = draw(st.dictionaries(ATTRIBUTE_NAMES, TRICKY, max_size=3))
    if element_id := draw(TRICKY):
        attrs["id"] = element_id
    if classes := draw(CLASS_NAMES):
        attrs["class"] = " ".join(classes)
    return Element(draw(TRICKY), attrs)


def read_back(element: Element) -> HierarchyElement:
    """What parsing should give for an element: names lower-cased, as CSS compares them."""
    kept = {name: value for name, value in element.attrs.items() if name not in ("id", "class")}
    return HierarchyElement(
        tag=element.tag.lower(),
        id=element.attrs.get("id", ""),
        classes=frozenset(element.attrs.get("class", "").split()),
        attrs=tuple((name.lower(), value) for name, value in sorted(kept.items())),
    )


@given(st.lists(elements(), min_size=1, max_size=3))
def test_every_built_hierarchy_parses_back_to_its_elements(chain: list[Element]) -> None:
    hierarchy = build_hierarchy(chain)
    assert len(hierarchy) <= TARGET_TEXT_MAX  # elements this small are never cut
    assert parse_hierarchy(hierarchy) == tuple(read_back(element) for element in reversed(chain))
