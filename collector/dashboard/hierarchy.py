"""Read Heap's hierarchy string back into elements, so stored clicks can be matched by selector.

The string lists elements outermost first, each `@tag;#id;.class;[attr=value];` closed by `|`:
`@div;#root;|@a;#buy;.btn;[href=/cart];|`. The last element is the event's target.
"""

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Element:
    """One element of a hierarchy: what a CSS selector can test."""

    tag: str = ""
    id: str = ""
    classes: frozenset[str] = frozenset()
    attrs: tuple[tuple[str, str], ...] = ()

    def attr(self, name: str) -> str | None:
        """The value of attribute `name` (names are case-insensitive), or None when absent."""
        for key, value in self.attrs:
            if key == name:
                return value
        return None


@lru_cache(maxsize=8192)
def parse_hierarchy(text: str) -> tuple[Element, ...]:
    """The elements of a hierarchy string, outermost first; tolerant of a string cut short."""
    elements: list[Element] = []
    parts: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos] == "|":
            if parts:
                elements.append(_element(parts))
            parts = []
            pos += 1
        elif text[pos] == "[":
            # An attribute value may hold ';' or '|', so it runs to the closing '];'.
            end = text.find("];", pos)
            end = len(text) if end < 0 else end
            parts.append(text[pos : end + 1])
            pos = end + 2
        else:
            end = text.find(";", pos)
            bar = text.find("|", pos)
            end = min(e for e in (end, bar, len(text)) if e >= 0)
            parts.append(text[pos:end])
            pos = end + 1 if end < len(text) and text[end] == ";" else end
    if parts:
        elements.append(_element(parts))
    return tuple(elements)


def _element(parts: list[str]) -> Element:
    tag, id_ = "", ""
    classes: set[str] = set()
    attrs: list[tuple[str, str]] = []
    for part in parts:
        if part.startswith("@"):
            tag = part[1:].lower()
        elif part.startswith("#"):
            id_ = part[1:]
        elif part.startswith("."):
            classes.add(part[1:])
        elif part.startswith("["):
            name, _, value = part[1:].removesuffix("]").partition("=")
            attrs.append((name.lower(), value))
    return Element(tag=tag, id=id_, classes=frozenset(classes), attrs=tuple(attrs))
