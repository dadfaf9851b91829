"""Redaction: fields, attributes and target text (numbers: test_sensitive_numbers.py)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snippet.inbound import Element
from snippet.redact import is_sensitive_field, redact_chain, redact_target_text
from snippet.wire import TARGET_TEXT_MAX


@pytest.mark.parametrize(
    ("element", "sensitive"),
    [
        (Element("input", {"type": "password", "name": "x"}), True),
        (Element("input", {"type": "HIDDEN"}), True),
        (Element("input", {"name": "cc-number"}), True),
        (Element("input", {"autocomplete": "cc-csc"}), True),
        (Element("input", {"id": "cardNumber"}), True),
        (Element("input", {"name": "credit_card"}), True),
        (Element("input", {"name": "user[ssn]"}), True),
        (Element("input", {"name": "cvv"}), True),
        (Element("input", {"name": "expiry"}), True),
        (Element("input", {"name": "routing_no"}), True),
        (Element("input", {"name": "pwd"}), True),
        (Element("textarea", {"name": "security-code"}), True),
        (Element("select", {"name": "exp_month"}), True),
        (Element("div", {"contenteditable": "true", "id": "passphrase"}), True),
        (Element("input", {"type": "text", "name": "email"}), False),
        (Element("input", {"name": "accent"}), False),  # cc only at the start
        (Element("button", {"id": "password-reset"}), False),  # not a field
        (Element("div", {"contenteditable": "false", "id": "pass"}), False),
    ],
)
def test_sensitive_fields(element: Element, sensitive: bool) -> None:
    assert is_sensitive_field(element) is sensitive


def test_sensitive_fields_keep_only_their_tag() -> None:
    field = Element("input", {"type": "password", "id": "pw", "class": "x"}, [("t", None)], "text")
    assert redact_chain([field]) == [Element("input")]


def test_values_never_leave_and_numbers_are_scrubbed_from_attributes() -> None:
    chain = [Element("input", {"value": "typed", "title": "4111 1111 1111 1111", "type": "text"})]
    assert redact_chain(chain)[0].attrs == {"title": "", "type": "text"}


def test_redact_attributes_strips_names_on_the_marked_element_and_below() -> None:
    target = Element("a", {"id": "buy", "href": "/cart", "title": "t", "class": "c"})
    middle = Element("span", {"title": "mid", "href": "/x"})
    marked = Element("div", {"data-heap-redact-attributes": " href , TITLE,id", "title": "m"})
    above = Element("main", {"title": "kept", "id": "kept"})
    redacted = redact_chain([target, middle, marked, above])
    assert redacted[0].attrs == {"class": "c"}
    assert redacted[1].attrs == {}
    assert redacted[2].attrs == {"data-heap-redact-attributes": " href , TITLE,id"}
    assert redacted[3].attrs == {"title": "kept", "id": "kept"}


def test_what_lies_inside_a_contenteditable_keeps_only_its_tag() -> None:
    # A link typed into a rich-text editor: its href and classes are the visitor's too.
    typed = Element("a", {"href": "https://typed.example/private", "class": "mention"})
    editor = Element("div", {"contenteditable": "true", "id": "editor"})
    assert redact_chain([typed, Element("b"), editor]) == [Element("a"), Element("b"), editor]


def text_of(*segments: tuple[str, str | None], tag: str = "button", **attrs: str) -> Element:
    return Element(tag, attrs, list(segments))


@pytest.mark.parametrize(
    ("chain", "disable", "text"),
    [
        ([text_of(("  Buy\n  now ", None))], False, "Buy now"),
        ([text_of(("Buy", None))], True, ""),  # disableTextCapture
        ([text_of(("Hi ", None), ("Secret", ""), (" there", None))], False, "Hi there"),
        ([text_of(("Hi ", None), ("Shown", "false"), (" there", None))], False, "Hi Shown there"),
        ([text_of(("Buy", ""), **{"data-heap-redact-text": ""})], False, ""),
        ([text_of(("Buy", "false"), **{"data-heap-redact-text": "false"})], False, "Buy"),
        (
            [text_of(("Buy", None)), Element("div", {"data-heap-redact-text": "true"})],
            False,
            "",
        ),
        ([text_of(("typed", None), tag="textarea")], False, ""),
        ([text_of(("x", None), tag="select")], False, ""),
        ([text_of(("x", None), tag="div", contenteditable="")], False, ""),
        (  # a link the visitor typed into a rich-text editor is their text too
            [text_of(("typed", None), tag="a"), Element("div", {"contenteditable": "true"})],
            False,
            "",
        ),
        (
            [text_of(("Buy", None), tag="a"), Element("div", {"contenteditable": "false"})],
            False,
            "Buy",
        ),
        ([text_of(("Pay 4111 1111 1111 1111 now", None))], False, "Pay now"),
        ([text_of(("w " * 2000, None))], False, ("w " * 512).strip()),
    ],
)
def test_target_text(chain: list[Element], disable: bool, text: str) -> None:
    assert redact_target_text(chain, disable_text_capture=disable) == text
    assert len(text) <= TARGET_TEXT_MAX


# -- data-heap-redact-text: generated markers and nesting ------------------------------------

# Marker values and whether each redacts: only "false" (any case, spaces around) does not.
MARKERS = [
    ("", True),
    ("true", True),
    ("TRUE", True),
    ("1", True),
    ("0", True),
    ("yes", True),
    ("no", True),
    ("falsey", True),
    ("fa lse", True),
    ("false", False),
    ("FALSE", False),
    ("False", False),
    (" false ", False),
    ("\tfalse\n", False),
]
markers = st.none() | st.sampled_from(MARKERS)


@st.composite
def marked_targets(draw: st.DrawFn, tag: str = "button") -> tuple[list[Element], str]:
    """A `tag` element whose text nodes sit under 0-3 wrappers, each element maybe marked, under
    0-2 maybe marked ancestors; the chain as the loader describes it (each text node with its
    nearest marker's value up to the target), and the text Heap's rule keeps."""

    def attrs(marker: tuple[str, bool] | None) -> dict[str, str]:
        return {} if marker is None else {"data-heap-redact-text": marker[0]}

    target_marker = draw(markers)
    segments: list[tuple[str, str | None]] = []
    kept: list[str] = []
    for index in range(draw(st.integers(1, 4))):
        word = f"w{index} "
        wrappers = draw(st.lists(markers, max_size=3))  # innermost first
        nearest = next((m for m in [*wrappers, target_marker] if m is not None), None)
        segments.append((word, None if nearest is None else nearest[0]))
        if nearest is None or not nearest[1]:
            kept.append(word)
    ancestors = draw(st.lists(markers, max_size=2))
    chain = [Element(tag, attrs(target_marker), segments)]
    chain += [Element("div", attrs(marker)) for marker in ancestors]
    if any(m is not None and m[1] for m in [target_marker, *ancestors]):
        return chain, ""  # a redacting marker on the target or above it hides all its text
    return chain, " ".join("".join(kept).split())


@settings(max_examples=300)
@given(marked_targets())
def test_redact_text_markers_decide_by_value_nearest_first(
    case: tuple[list[Element], str],
) -> None:
    chain, expected = case
    assert redact_target_text(chain, disable_text_capture=False) == expected
