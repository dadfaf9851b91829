"""Heap's hierarchy string."""

import pytest

from snippet.hierarchy import build_hierarchy, element_selector
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
