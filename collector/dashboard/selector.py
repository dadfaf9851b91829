"""A small CSS selector language for defined events, matched against Heap's hierarchy.

Supported: compound selectors of tag (or `*`), `#id`, `.class`, `[attr]` and `[attr=value]`, joined
by the descendant (space) and child (`>`) combinators. Anything else is refused with a message that
says what to write instead, so a definition never silently counts nothing.
"""

import re
import string
from dataclasses import dataclass

from snippet.hierarchy import HierarchyElement

SUPPORTED = "tag, #id, .class, [attr] and [attr=value], joined by a space or >"
_HTML_ROOTS = frozenset({"html", "body"})
_IDENT = re.compile(r"(?:[A-Za-z0-9_\-\u0080-\U0010ffff]|\\.)+")
_UNQUOTED_VALUE = re.compile(r"[^\s\]\"']+")
_PSEUDO = re.compile(r"::?[\w-]*")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


class SelectorError(ValueError):
    """A selector outside the supported subset, or malformed; the message says why."""


@dataclass(frozen=True)
class Compound:
    """Conditions that one element must meet all at once, like `a#buy.btn[href=/cart]`."""

    tag: str = ""
    id: str = ""
    classes: frozenset[str] = frozenset()
    attrs: tuple[tuple[str, str | None], ...] = ()  # value None: the attribute only has to exist

    def matches(self, element: HierarchyElement) -> bool:
        """Whether `element` meets every condition of this compound."""
        if self.tag and element.tag != self.tag:
            return False
        if self.id and element.id != self.id:
            return False
        if not self.classes <= element.classes:
            return False
        for name, wanted in self.attrs:
            value = element.attr(name)
            if value is None or (wanted is not None and value != wanted):
                return False
        return True


@dataclass(frozen=True)
class Selector:
    """Compounds outermost first; `combinators[i]` (' ' or '>') joins compounds i and i + 1."""

    compounds: tuple[Compound, ...]
    combinators: tuple[str, ...]


def parse_selector(text: str) -> Selector:
    """Parse `text` into a Selector, or raise SelectorError saying what is not supported."""
    source = text.strip()
    if not source:
        raise SelectorError("the selector is empty")
    compounds: list[Compound] = []
    combinators: list[str] = []
    pos = 0
    while True:
        compound, pos = _parse_compound(source, pos)
        compounds.append(compound)
        if pos == len(source):
            break
        combinator, pos = _parse_combinator(source, pos)
        combinators.append(combinator)
    return Selector(tuple(compounds), tuple(combinators))


def matches_hierarchy(selector: Selector, elements: tuple[HierarchyElement, ...]) -> bool:
    """Whether the selector matches the target (the last element) or one of its ancestors.

    Heap counts a click inside a matching element as a click on it: a click on the <span> inside
    `button.buy` is a click on `button.buy`. Each compound is tested against each element once
    (compounds x elements steps), since anyone with the app id can send the hierarchy.
    """
    # ends[i]: the compounds so far match a chain of elements whose innermost is element i.
    ends = [selector.compounds[0].matches(element) for element in elements]
    for compound, combinator in zip(selector.compounds[1:], selector.combinators, strict=True):
        ancestor_ends = False  # whether some element above i ends such a chain
        next_ends = []
        for i, element in enumerate(elements):
            if combinator == ">":
                joined = i > 0 and ends[i - 1]
            else:
                joined = ancestor_ends
                ancestor_ends = ancestor_ends or ends[i]
            next_ends.append(joined and compound.matches(element))
        ends = next_ends
    return any(ends)


def required_substrings(selector: Selector) -> tuple[str, ...]:
    """Texts that any hierarchy this selector matches contains, in ASCII lower case.

    They let SQL skip most events before `matches_hierarchy` decides; a name that is not ASCII
    gives none, since the hierarchy's parser lowers it beyond ASCII.
    """
    needed: list[str] = []
    for compound in selector.compounds:
        if compound.tag and compound.tag.isascii():
            needed.append(f"@{compound.tag}")
        if compound.id:
            needed.append(f"#{compound.id}")
        needed.extend(f".{name}" for name in sorted(compound.classes))
        for name, value in compound.attrs:
            if name.isascii():
                needed.append(f"[{name}" if value is None else f"[{name}={value}")
    return tuple(ascii_lower(text) for text in needed)


def ascii_lower(text: str) -> str:
    """`text` with only A-Z lowered, as SQLite's lower() does."""
    return text.translate(_ASCII_LOWER)


def _parse_compound(source: str, pos: int) -> tuple[Compound, int]:
    start = pos
    tag, id_ = "", ""
    classes: set[str] = set()
    attrs: list[tuple[str, str | None]] = []
    if pos < len(source) and source[pos] == "*":
        pos += 1
    elif ident := _IDENT.match(source, pos):
        tag = _unescape(ident.group()).lower()
        if tag in _HTML_ROOTS:
            raise SelectorError(
                f"'{tag}' never matches: Heap's hierarchy starts below <body>; leave it out"
            )
        pos = ident.end()
    while pos < len(source) and source[pos] in "#.[":
        if source[pos] == "[":
            name, value, pos = _parse_attribute(source, pos)
            attrs.append((name, value))
            continue
        ident = _IDENT.match(source, pos + 1)
        if not ident:
            raise SelectorError(f"expected a name after '{source[pos]}' at position {pos + 1}")
        if source[pos] == "#":
            if id_:
                raise SelectorError("an element has one id; this selector asks for two")
            id_ = _unescape(ident.group())
        else:
            classes.add(_unescape(ident.group()))
        pos = ident.end()
    if pos == start:
        raise _unsupported(source, pos)
    if pos < len(source) and not source[pos].isspace() and source[pos] != ">":
        raise _unsupported(source, pos)
    return Compound(tag, id_, frozenset(classes), tuple(attrs)), pos


def _parse_attribute(source: str, pos: int) -> tuple[str, str | None, int]:
    """`[name]` or `[name=value]` (value bare or quoted) starting at `pos`; returns the end too."""
    name = _IDENT.match(source, _skip_spaces(source, pos + 1))
    if not name:
        raise SelectorError(f"expected an attribute name after '[' at position {pos + 1}")
    pos = _skip_spaces(source, name.end())
    attr_name = _unescape(name.group()).lower()
    if source.startswith("]", pos):
        return attr_name, None, pos + 1
    if pos == len(source):
        raise SelectorError(f"expected ']' to close [{attr_name} at the end")
    if not source.startswith("=", pos):
        found = source[pos : pos + 2]
        raise SelectorError(
            f"attribute test '{found}' is not supported: use [{attr_name}] or [{attr_name}=value]"
        )
    pos = _skip_spaces(source, pos + 1)
    if pos < len(source) and source[pos] in "\"'":
        close = source.find(source[pos], pos + 1)
        if close < 0:
            raise SelectorError(f"the quoted value starting at position {pos + 1} is not closed")
        value, pos = source[pos + 1 : close], close + 1
    elif bare := _UNQUOTED_VALUE.match(source, pos):
        value, pos = bare.group(), bare.end()
    else:
        raise SelectorError(f"expected a value after '{attr_name}=' at position {pos + 1}")
    pos = _skip_spaces(source, pos)
    if not source.startswith("]", pos):
        raise SelectorError(f"expected ']' to close [{attr_name}=...] at position {pos + 1}")
    return attr_name, value, pos + 1


def _parse_combinator(source: str, pos: int) -> tuple[str, int]:
    after_spaces = _skip_spaces(source, pos)
    if after_spaces < len(source) and source[after_spaces] == ">":
        next_pos = _skip_spaces(source, after_spaces + 1)
        if next_pos == len(source):
            raise SelectorError("the selector ends with '>': add the element it should contain")
        return ">", next_pos
    if after_spaces == pos:
        raise _unsupported(source, pos)
    return " ", after_spaces


def _unsupported(source: str, pos: int) -> SelectorError:
    if pos >= len(source):
        return SelectorError(f"the selector ends unexpectedly; supported: {SUPPORTED}")
    found = source[pos]
    if found == ",":
        return SelectorError("a list of selectors (',') is not supported: define one per event")
    if found == ":":
        pseudo = _PSEUDO.match(source, pos)
        what = f"the pseudo-class '{pseudo.group() if pseudo else found}'"
    elif found in "+~":
        what = f"the sibling combinator '{found}'"
    else:
        what = f"'{found}' at position {pos + 1}"
    return SelectorError(f"{what} is not supported; use {SUPPORTED}")


def _skip_spaces(source: str, pos: int) -> int:
    while pos < len(source) and source[pos].isspace():
        pos += 1
    return pos


def _unescape(ident: str) -> str:
    """CSS lets a backslash escape one character, e.g. `.md\\:flex` for the class `md:flex`."""
    return re.sub(r"\\(.)", r"\1", ident)
