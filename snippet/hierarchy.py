"""Heap's hierarchy string: `@tag;#id;.class;[attr=value];|` per element, outermost first."""

from snippet.inbound import Element
from snippet.wire import TARGET_TEXT_MAX

_NOT_IN_HIERARCHY = frozenset({"id", "class", "style", "value", "heap-ignore"})


def element_selector(element: Element) -> str:
    """One element's part of the hierarchy: tag, id, sorted classes, then sorted attributes."""
    parts = [f"@{element.tag};"]
    element_id = element.attrs.get("id", "")
    if element_id:
        parts.append(f"#{element_id};")
    parts.extend(f".{name};" for name in sorted(set(element.attrs.get("class", "").split())))
    parts.extend(
        f"[{name}={value}];"
        for name, value in sorted(element.attrs.items())
        if _belongs_in_hierarchy(name)
    )
    parts.append("|")
    return "".join(parts)


def _belongs_in_hierarchy(name: str) -> bool:
    return not (name in _NOT_IN_HIERARCHY or name.startswith("on") or name.startswith("data-heap-"))


def build_hierarchy(chain: list[Element]) -> str:
    """The hierarchy of `chain[0]` (target first): ancestors are added, innermost first, until
    the next one would pass TARGET_TEXT_MAX characters; a target longer than that alone is cut."""
    selectors = [element_selector(chain[0])[:TARGET_TEXT_MAX]]
    length = len(selectors[0])
    for ancestor in chain[1:]:
        selector = element_selector(ancestor)
        if length + len(selector) > TARGET_TEXT_MAX:
            break
        selectors.append(selector)
        length += len(selector)
    return "".join(reversed(selectors))
