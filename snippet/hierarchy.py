"""Heap's hierarchy string, built in the browser and read back by the collector's dashboard.

`@tag;#id;.class;[attr=value];|` per element, outermost first, the event's target last:
`@div;#root;|@a;#buy;.btn;[href=/cart];|`. Heap writes values raw; so that every string built
here parses back to what was built, a backslash escapes the characters that would end a part
early: `\\`, `;` and `|` in a tag, id or class, `\\`, `=` and `]` in an attribute name, `\\` and
`]` in an attribute value. Strings stored before escaping parse as they did: an attribute value
runs to the first `]` followed by `;`, and a backslash before any other character is kept.
"""

import re
from dataclasses import dataclass
from functools import lru_cache

from snippet.inbound import Element
from snippet.wire import TARGET_TEXT_MAX

_NOT_IN_HIERARCHY = frozenset({"id", "class", "style", "value", "heap-ignore"})

# What the builder escapes in each kind of text.
_PLAIN_SPECIAL = re.compile(r"[\\;|]")
_NAME_SPECIAL = re.compile(r"[\\=\]]")
_VALUE_SPECIAL = re.compile(r"[\\\]]")
# What the parser reads: a part up to its end, and the escapes it undoes.
_PLAIN_PART = re.compile(r"(?:[^\\;|]|\\.?)*", re.DOTALL)
_ATTR_NAME = re.compile(r"(?:[^\\=\]]|\\.?|\](?!;|\Z))*", re.DOTALL)
_ATTR_VALUE = re.compile(r"(?:[^\\\]]|\\.?|\](?!;|\Z))*", re.DOTALL)
_ESCAPE = re.compile(r"\\([\\;|=\]])")


@dataclass(frozen=True)
class HierarchyElement:
    """One element read back from a hierarchy string: what a CSS selector can test. Tag and
    attribute names are lower-cased, as CSS matches them case-insensitively."""

    tag: str = ""
    id: str = ""
    classes: frozenset[str] = frozenset()
    attrs: tuple[tuple[str, str], ...] = ()

    def attr(self, name: str) -> str | None:
        """The value of attribute `name` (lower-case), or None when absent."""
        for key, value in self.attrs:
            if key == name:
                return value
        return None


def element_selector(element: Element) -> str:
    """One element's part of the hierarchy: tag, id, sorted classes, then sorted attributes."""
    parts = [f"@{_escape(_PLAIN_SPECIAL, element.tag)};"]
    element_id = element.attrs.get("id", "")
    if element_id:
        parts.append(f"#{_escape(_PLAIN_SPECIAL, element_id)};")
    parts.extend(
        f".{_escape(_PLAIN_SPECIAL, name)};"
        for name in sorted(set(element.attrs.get("class", "").split()))
    )
    parts.extend(
        f"[{_escape(_NAME_SPECIAL, name)}={_escape(_VALUE_SPECIAL, value)}];"
        for name, value in sorted(element.attrs.items())
        if _belongs_in_hierarchy(name)
    )
    parts.append("|")
    return "".join(parts)


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


@lru_cache(maxsize=8192)
def parse_hierarchy(text: str) -> tuple[HierarchyElement, ...]:
    """The elements of a hierarchy string, outermost first; tolerant of a string cut short."""
    elements: list[HierarchyElement] = []
    element = _ElementParts()
    pos, end = 0, len(text)
    while pos < end:
        char = text[pos]
        if char == "|":
            if not element.is_empty():
                elements.append(element.done())
            element = _ElementParts()
            pos += 1
            continue
        if char == "[":
            name, pos = _read(_ATTR_NAME, text, pos + 1)
            value = ""
            if text.startswith("=", pos):
                value, pos = _read(_ATTR_VALUE, text, pos + 1)
            element.attrs.append((_unescape(name).lower(), _unescape(value)))
            pos += text.startswith("]", pos)
        else:
            part, pos = _read(_PLAIN_PART, text, pos)
            element.add(part)
        pos += text.startswith(";", pos)
    if not element.is_empty():
        elements.append(element.done())
    return tuple(elements)


class _ElementParts:
    """The parts of one element read so far."""

    def __init__(self) -> None:
        self.tag = ""
        self.id = ""
        self.classes: set[str] = set()
        self.attrs: list[tuple[str, str]] = []
        self.parts = 0

    def add(self, part: str) -> None:
        marker, content = part[:1], _unescape(part[1:])
        if marker == "@":
            self.tag = content.lower()
        elif marker == "#":
            self.id = content
        elif marker == ".":
            self.classes.add(content)
        self.parts += 1

    def is_empty(self) -> bool:
        return not (self.parts or self.attrs)

    def done(self) -> HierarchyElement:
        return HierarchyElement(self.tag, self.id, frozenset(self.classes), tuple(self.attrs))


def _belongs_in_hierarchy(name: str) -> bool:
    return not (name in _NOT_IN_HIERARCHY or name.startswith("on") or name.startswith("data-heap-"))


def _read(part: re.Pattern[str], text: str, pos: int) -> tuple[str, int]:
    """The part that starts at `pos`, and where it ends."""
    match = part.match(text, pos)
    if match is None:  # never: each part's pattern matches the empty string
        return "", pos
    return match.group(), match.end()


def _escape(special: re.Pattern[str], text: str) -> str:
    return special.sub(r"\\\g<0>", text)


def _unescape(text: str) -> str:
    return _ESCAPE.sub(r"\1", text) if "\\" in text else text
