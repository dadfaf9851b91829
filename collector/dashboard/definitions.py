"""Defined events: a name plus a match on autocaptured data, applied to events already stored.

Validation and matching are pure functions; `queries.py` stores the definitions and streams the
events that `count_matches` and `count_matches_by_bucket` read.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from collector.dashboard.chart import Window
from collector.dashboard.hierarchy import Element, parse_hierarchy, target_element
from collector.dashboard.selector import Selector, SelectorError, matches_hierarchy, parse_selector
from snippet.validate import event_name_problem

AUTOCAPTURED_TYPES = ("click", "change", "submit", "pageview")
TEXT_MAX = 1024  # a target text or URL fragment longer than this could not have been stored


@dataclass(frozen=True)
class Definition:
    """What a person asked to count: every criterion that is set must hold."""

    name: str
    event_type: str | None = None
    selector: str | None = None
    target_text: str | None = None
    url_contains: str | None = None


@dataclass(frozen=True)
class StoredEvent:
    """The parts of a stored event that a definition can test."""

    type: str
    url: str
    target_text: str | None
    hierarchy: tuple[Element, ...]
    time: int


@dataclass(frozen=True)
class Matcher:
    """A definition with its selector parsed once, ready to test many events."""

    definition: Definition
    selector: Selector | None

    def matches(self, event: StoredEvent) -> bool:
        """Whether `event` meets every criterion of the definition."""
        wanted = self.definition
        if wanted.event_type and event.type != wanted.event_type:
            return False
        if wanted.url_contains and wanted.url_contains not in event.url:
            return False
        if wanted.target_text and (event.target_text or "").strip() != wanted.target_text:
            return False
        return self.selector is None or matches_hierarchy(self.selector, event.hierarchy)


def matcher_for(definition: Definition) -> Matcher:
    """A Matcher for a definition that `definition_from_form` accepted."""
    selector = parse_selector(definition.selector) if definition.selector else None
    return Matcher(definition, selector)


def definition_from_form(form: Mapping[str, str]) -> tuple[Definition | None, list[str]]:
    """A Definition from the create form's fields, or None and one plain line per problem."""
    name = form.get("name", "").strip()
    event_type = form.get("event_type", "").strip() or None
    selector = form.get("selector", "").strip() or None
    target_text = form.get("target_text", "").strip() or None
    url_contains = form.get("url_contains", "").strip() or None
    problems: list[str] = []
    if name_problem := event_name_problem(name):
        problems.append(name_problem.replace("event name", "name", 1))
    if event_type is not None and event_type not in AUTOCAPTURED_TYPES:
        problems.append(f"type must be one of {', '.join(AUTOCAPTURED_TYPES)}, got {event_type!r}")
    if not (event_type or selector or target_text or url_contains):
        problems.append("give at least one of: type, CSS selector, target text, URL contains")
    if event_type == "pageview" and (selector or target_text):
        problems.append("a pageview has no target: a selector or target text needs another type")
    if selector:
        try:
            parse_selector(selector)
        except SelectorError as error:
            problems.append(f"CSS selector: {error}")
    for label, value in (("target text", target_text), ("URL contains", url_contains)):
        if value and len(value) > TEXT_MAX:
            problems.append(f"{label} is {len(value)} characters; the limit is {TEXT_MAX}")
    if problems:
        return None, problems
    return Definition(name, event_type, selector, target_text, url_contains), []


def stored_event(
    type_: str,
    url: str | None,
    target: Mapping[str, object] | None,
    time: int,
) -> StoredEvent:
    """A StoredEvent from a row's type, page URL and target (tag, id, class, text, hierarchy)."""
    target = target or {}
    hierarchy = _text(target.get("hierarchy"))
    if hierarchy:
        elements = parse_hierarchy(hierarchy)
    elif tag := _text(target.get("tag")):
        elements = (target_element(tag, _text(target.get("id")), _text(target.get("class"))),)
    else:
        elements = ()
    text = target.get("text")
    return StoredEvent(type_, url or "", text if isinstance(text, str) else None, elements, time)


def count_matches(matchers: Mapping[str, Matcher], events: Iterable[StoredEvent]) -> dict[str, int]:
    """How many of `events` each matcher counts, in one pass over the events."""
    counts = dict.fromkeys(matchers, 0)
    for event in events:
        for key, matcher in matchers.items():
            if matcher.matches(event):
                counts[key] += 1
    return counts


def count_matches_by_bucket(
    matcher: Matcher, events: Iterable[StoredEvent], window: Window
) -> list[int]:
    """Matches per bucket of `window`; events outside it are ignored."""
    counts = [0] * window.buckets
    for event in events:
        index = window.index(event.time)
        if index is not None and matcher.matches(event):
            counts[index] += 1
    return counts


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
