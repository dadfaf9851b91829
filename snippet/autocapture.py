"""Which click, change or submit becomes an event, and what its target looks like on the wire."""

from snippet.hierarchy import build_hierarchy
from snippet.inbound import Element
from snippet.redact import redact_chain, redact_target_text
from snippet.wire import Target

_CLICKABLE_TAGS = frozenset({"a", "button", "input", "select", "textarea", "label", "summary"})
_CLICKABLE_ROLES = frozenset({"button", "link", "checkbox", "menuitem", "tab"})
_CHANGE_TAGS = frozenset({"input", "select", "textarea"})
_HREF_TAGS = frozenset({"a", "area"})


def is_ignored(chain: list[Element]) -> bool:
    """Whether any element of the chain carries `heap-ignore` (any value but "false")."""
    return any(
        "heap-ignore" in element.attrs and element.attrs["heap-ignore"].strip().lower() != "false"
        for element in chain
    )


def is_clickable(element: Element) -> bool:
    """Whether a click inside this element is a click on it: links, buttons, fields, labels,
    ARIA widgets, contenteditable, or anything the page styles with a pointer cursor."""
    if element.tag == "input":
        return element.attrs.get("type", "").strip().lower() != "hidden"
    if element.tag in _CLICKABLE_TAGS:
        return True
    if element.attrs.get("role", "").strip().lower() in _CLICKABLE_ROLES:
        return True
    editable = element.attrs.get("contenteditable")
    if editable is not None and editable.strip().lower() != "false":
        return True
    return element.cursor.strip().lower() == "pointer"


def target_index(kind: str, chain: list[Element]) -> int | None:
    """Index in `chain` (target first) of the element the event is about, or None for no event."""
    if kind == "click":
        # Every click is an event, as with Heap: on the nearest clickable element around the
        # one clicked (a link's <span> is a click on the link), else on the element clicked.
        return next((i for i, element in enumerate(chain) if is_clickable(element)), 0)
    if kind == "change":
        return 0 if chain[0].tag in _CHANGE_TAGS else None
    if kind == "submit":
        return next((i for i, element in enumerate(chain) if element.tag == "form"), None)
    raise ValueError(f"not an autocaptured kind: {kind!r}")


def describe_target(
    kind: str, chain: list[Element], *, disable_text_capture: bool
) -> Target | None:
    """The wire `target` for an autocaptured event, or None when the interaction is no event;
    fields the element lacks (or that were redacted) are ''."""
    if is_ignored(chain):
        return None
    index = target_index(kind, chain)
    if index is None:
        return None
    raw = chain[index:]
    redacted = redact_chain(raw)
    target = redacted[0]
    return {
        "tag": target.tag,
        "id": target.attrs.get("id", ""),
        "class": target.attrs.get("class", ""),
        "href": target.attrs.get("href", "") if target.tag in _HREF_TAGS else "",
        "text": redact_target_text(raw, disable_text_capture=disable_text_capture),
        "hierarchy": build_hierarchy(redacted),
    }
