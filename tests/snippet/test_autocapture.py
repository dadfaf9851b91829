"""Which interactions become events, and their targets."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippet.autocapture import describe_target, is_clickable, is_ignored, target_index
from snippet.inbound import Element
from tests.snippet.test_redact import marked_targets
from tests.snippet.test_sensitive_numbers import (
    PREFIXES,
    SUFFIXES,
    card_numbers,
    digits_read_back,
    written,
)

DIV, SPAN = Element("div"), Element("span")


@pytest.mark.parametrize(
    ("chain", "ignored"),
    [
        ([Element("a"), Element("div", {"heap-ignore": ""})], True),
        ([Element("a", {"heap-ignore": "true"})], True),
        ([Element("a", {"heap-ignore": "yes"})], True),
        ([Element("a", {"heap-ignore": "false"})], False),
        ([Element("a", {"heap-ignore": " FALSE "})], False),
        ([Element("a", {"class": "heap-ignore"})], False),  # only the attribute counts
        ([Element("a")], False),
    ],
)
def test_heap_ignore(chain: list[Element], ignored: bool) -> None:
    assert is_ignored(chain) is ignored


@pytest.mark.parametrize(
    ("element", "clickable"),
    [
        (Element("a"), True),
        (Element("button"), True),
        (Element("input", {"type": "checkbox"}), True),
        (Element("input"), True),
        (Element("input", {"type": "hidden"}), False),
        (Element("select"), True),
        (Element("textarea"), True),
        (Element("label"), True),
        (Element("summary"), True),
        (Element("div", {"role": "button"}), True),
        (Element("li", {"role": "menuitem"}), True),
        (Element("span", {"role": "Tab"}), True),
        (Element("span", {"role": "link"}), True),
        (Element("span", {"role": "checkbox"}), True),
        (Element("div", {"role": "dialog"}), False),
        (Element("div", {"contenteditable": ""}), True),
        (Element("div", {"contenteditable": "false"}), False),
        (Element("div", cursor="pointer"), True),
        (Element("div", cursor="auto"), False),
        (Element("form"), False),
        (Element("img"), False),
    ],
)
def test_clickable_elements(element: Element, clickable: bool) -> None:
    assert is_clickable(element) is clickable


@pytest.mark.parametrize(
    ("kind", "chain", "index"),
    [
        ("click", [SPAN, Element("a"), DIV], 1),  # a span inside a link: the link
        ("click", [Element("button"), Element("a")], 0),  # the nearest wins
        ("click", [SPAN, DIV], 0),  # nothing clickable: the element clicked, as Heap does
        ("click", [Element("p"), DIV], 0),
        ("click", [SPAN, Element("div", cursor="pointer")], 1),
        ("change", [Element("input")], 0),
        ("change", [Element("select"), Element("form")], 0),
        ("change", [Element("textarea")], 0),
        ("change", [Element("div", {"contenteditable": ""})], None),
        ("submit", [Element("form"), DIV], 0),
        ("submit", [DIV, Element("form")], 1),
        ("submit", [DIV], None),
    ],
)
def test_target_index(kind: str, chain: list[Element], index: int | None) -> None:
    assert target_index(kind, chain) == index


def test_a_click_target_carries_tag_id_class_href_text_and_hierarchy() -> None:
    chain = [
        Element("span", text=[("Buy ", None)]),
        Element("a", {"id": "buy", "class": "btn primary", "href": "/cart"}, [("Buy now", None)]),
        Element("div", {"id": "root"}),
    ]
    assert describe_target("click", chain, disable_text_capture=False) == {
        "tag": "a",
        "id": "buy",
        "class": "btn primary",
        "href": "/cart",
        "text": "Buy now",
        "hierarchy": "@div;#root;|@a;#buy;.btn;.primary;[href=/cart];|",
    }


def test_href_is_only_for_links_and_absent_attributes_are_empty() -> None:
    chain = [Element("button", {"href": "/nope"}, [("Go", None)])]
    target = describe_target("click", chain, disable_text_capture=False)
    assert target is not None
    assert (target["id"], target["class"], target["href"]) == ("", "", "")


def test_a_change_carries_no_value_and_no_text() -> None:
    chain = [Element("input", {"type": "text", "name": "q", "value": "typed"}, [("typed", None)])]
    target = describe_target("change", chain, disable_text_capture=False)
    assert target is not None
    assert target["text"] == ""
    assert "typed" not in str(target)


def test_a_password_change_is_captured_as_a_bare_tag() -> None:
    chain = [Element("input", {"type": "password", "id": "pw", "class": "c"}), Element("form")]
    assert describe_target("change", chain, disable_text_capture=False) == {
        "tag": "input",
        "id": "",
        "class": "",
        "href": "",
        "text": "",
        "hierarchy": "@form;|@input;|",
    }


def test_redacted_attributes_leave_target_fields_and_hierarchy() -> None:
    chain = [
        Element("a", {"id": "acct-42", "href": "/u/42", "class": "c"}, [("Me", None)]),
        Element("nav", {"data-heap-redact-attributes": "id,href"}),
    ]
    target = describe_target("click", chain, disable_text_capture=False)
    assert target is not None
    assert (target["id"], target["href"], target["class"]) == ("", "", "c")
    assert "42" not in target["hierarchy"]


@pytest.mark.parametrize(
    ("kind", "chain"),
    [
        ("click", [Element("a", {"heap-ignore": "true"})]),
        ("click", [Element("a"), Element("section", {"heap-ignore": ""})]),
        ("change", [DIV]),
        ("submit", [Element("button")]),
    ],
)
def test_interactions_that_are_no_event(kind: str, chain: list[Element]) -> None:
    assert describe_target(kind, chain, disable_text_capture=False) is None


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="not an autocaptured kind"):
        target_index("hover", [DIV])


# -- every click is an event: the privacy rules hold on any element -------------------------

PLAIN_TAGS = st.sampled_from(["p", "div", "span", "li", "section", "h2", "td", "img", "article"])


@settings(max_examples=200, deadline=None)
@given(data=st.data(), tag=PLAIN_TAGS, disable=st.booleans())
def test_a_click_on_any_element_keeps_the_text_redaction_rules(
    data: st.DataObject, tag: str, disable: bool
) -> None:
    chain, kept = data.draw(marked_targets(tag))
    target = describe_target("click", chain, disable_text_capture=disable)
    assert target is not None and target["tag"] == tag
    assert target["text"] == ("" if disable else kept)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), tag=PLAIN_TAGS, prefix=PREFIXES, suffix=SUFFIXES)
def test_a_click_on_any_element_sends_no_card_number(
    data: st.DataObject, tag: str, prefix: str, suffix: str
) -> None:
    digits = data.draw(card_numbers())
    text = prefix + data.draw(written(digits, min_split=1)) + suffix
    # Its groups spread over the element's text nodes, as child elements would hold them.
    cut = data.draw(st.integers(0, len(text)))
    segments = [(part, None) for part in (text[:cut], text[cut:]) if part]
    attrs = {"title": text, "data-note": text, "class": "card"}
    chain = [Element(tag, attrs, segments), Element("div", {"id": "wrap", "title": text})]
    target = describe_target("click", chain, disable_text_capture=False)
    assert target is not None and target["tag"] == tag
    for field in ("text", "hierarchy", "id", "class"):
        assert digits not in digits_read_back(target[field]), field
