"""Everything that keeps private data out of events: fields, attributes, target text, numbers."""

import re

from snippet.inbound import Element
from snippet.sensitive_numbers import scrub_sensitive_numbers
from snippet.wire import TARGET_TEXT_MAX

_SENSITIVE_NAME = re.compile(
    r"^cc|card|cardnum|ccnum|creditcard|csc|cvc|cvv|exp|pass|pwd|routing|seccode"
    r"|securitycode|socialsec|socsec|ssn",
    re.IGNORECASE,
)
_NOT_ALPHANUMERIC = re.compile(r"[^a-zA-Z0-9]")
_FORM_FIELDS = frozenset({"input", "select", "textarea"})
REDACT_TEXT = "data-heap-redact-text"


def is_editable(element: Element) -> bool:
    """Form fields and contenteditable elements: what they hold is the visitor's, never captured."""
    editable = element.attrs.get("contenteditable")
    return element.tag in _FORM_FIELDS or (editable is not None and editable.lower() != "false")


def is_sensitive_field(element: Element) -> bool:
    """Password, hidden and card/SSN-like fields: they contribute nothing but their tag."""
    if not is_editable(element):
        return False
    if element.attrs.get("type", "").strip().lower() in ("password", "hidden"):
        return True
    return any(
        _SENSITIVE_NAME.search(_NOT_ALPHANUMERIC.sub("", element.attrs.get(name, "")))
        for name in ("name", "id", "autocomplete")
    )


def redact_chain(chain: list[Element]) -> list[Element]:
    """The chain (target first) with only what may leave the page: no values, no attributes
    named by `data-heap-redact-attributes` on the element or above, sensitive fields and
    what lies inside a contenteditable bare."""
    redacted_names: set[str] = set()
    kept: list[Element] = []
    inside_editable = False  # what lies inside a contenteditable, the visitor wrote: bare tags
    for element in reversed(chain):  # outermost first, so a marker covers what lies below it
        marker = element.attrs.get("data-heap-redact-attributes", "")
        redacted_names |= {name.strip().lower() for name in marker.split(",") if name.strip()}
        if inside_editable:
            kept.append(Element(tag=element.tag))
        else:
            kept.append(_redact_element(element, redacted_names))
        inside_editable = inside_editable or is_editable(element)
    return kept[::-1]


def _redact_element(element: Element, redacted_names: set[str]) -> Element:
    if is_sensitive_field(element):
        return Element(tag=element.tag)
    attrs = {
        name: scrub_sensitive_numbers(value)
        for name, value in element.attrs.items()
        if name != "value" and name not in redacted_names
    }
    text = [] if is_editable(element) else element.text
    return Element(tag=element.tag, attrs=attrs, text=text, cursor=element.cursor)


def redact_target_text(chain: list[Element], *, disable_text_capture: bool) -> str:
    """The target's visible text, or '' when any rule forbids it; a text node whose nearest
    marker inside the target redacts is left out; whitespace collapsed, cut at TARGET_TEXT_MAX,
    card/SSN-like numbers removed. `chain` is the raw chain, target first."""
    if disable_text_capture or any(
        marks_text_redacted(element.attrs.get(REDACT_TEXT)) for element in chain
    ):
        return ""
    target = chain[0]
    # Inside a contenteditable (a rich-text editor), even a link's text is what the visitor typed.
    if is_sensitive_field(target) or any(is_editable(element) for element in chain):
        return ""
    visible = "".join(text for text, marker in target.text if not marks_text_redacted(marker))
    return " ".join(scrub_sensitive_numbers(visible).split())[:TARGET_TEXT_MAX].rstrip()


def marks_text_redacted(marker: str | None) -> bool:
    """Whether a `data-heap-redact-text` value redacts: any value but "false" (in any case,
    spaces around it allowed); None means no marker."""
    return marker is not None and marker.strip().lower() != "false"
