"""Defined events: a name plus a match on autocaptured data, applied to events already stored.

Validation and matching are pure functions; storage keeps the definitions and streams the
candidate events (grouped when alike) that pass a definition's `candidate_filter`, which the
counting functions here read.
"""

from collections.abc import AsyncIterable, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from collector.dashboard.selector import (
    Selector,
    SelectorError,
    matches_hierarchy,
    parse_selector,
    required_substrings,
)
from collector.storage.base import Candidate, CandidateFilter, CandidateGroup, Definition
from snippet.hierarchy import HierarchyElement, parse_hierarchy
from snippet.validate import event_name_problem
from snippet.wire import AUTOCAPTURED_TYPES, PAGEVIEW, STORED_TEXT_MAX, TARGET_TEXT_MAX

# The types a defined event can match: the autocaptured interactions and pageviews.
DEFINABLE_TYPES = (*AUTOCAPTURED_TYPES, PAGEVIEW)


@dataclass(frozen=True)
class MatchableEvent:
    """The parts of a stored event that a definition can test."""

    type: str
    url: str
    target_text: str | None
    hierarchy: tuple[HierarchyElement, ...]


class EventGroup(NamedTuple):
    """`size` stored events alike in all a definition can test, and in their bucket of a window
    (None: outside it, or no window asked for)."""

    event: MatchableEvent
    bucket: int | None
    size: int


@dataclass(frozen=True)
class Matcher:
    """A definition with its selector parsed once, ready to test many events."""

    definition: Definition
    selector: Selector | None

    def matches(self, event: MatchableEvent) -> bool:
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
    if event_type is not None and event_type not in DEFINABLE_TYPES:
        problems.append(f"type must be one of {', '.join(DEFINABLE_TYPES)}, got {event_type!r}")
    if not (event_type or selector or target_text or url_contains):
        problems.append("give at least one of: type, CSS selector, target text, URL contains")
    if event_type == PAGEVIEW and (selector or target_text):
        problems.append("a pageview has no target: a selector or target text needs another type")
    if selector:
        try:
            parse_selector(selector)
        except SelectorError as error:
            problems.append(f"CSS selector: {error}")
    # Longer than this, the text could not have been stored, so nothing could match.
    for label, value, limit in (
        ("target text", target_text, TARGET_TEXT_MAX),
        ("URL contains", url_contains, STORED_TEXT_MAX),
    ):
        if value and len(value) > limit:
            problems.append(f"{label} is {len(value)} characters; the limit is {limit}")
    if problems:
        return None, problems
    return Definition(name, event_type, selector, target_text, url_contains), []


def matchable_event(
    type_: str, url: str | None, hierarchy: str | None, text: str | None
) -> MatchableEvent:
    """A MatchableEvent from a row's type, page URL and target hierarchy and text (None: absent)."""
    return MatchableEvent(type_, url or "", text, parse_hierarchy(hierarchy) if hierarchy else ())


def candidate_filter(definition: Definition) -> CandidateFilter:
    """What every event the definition matches has in its stored values, for storage to skip
    most others (the selector's required substrings are of the lowercased hierarchy)."""
    return CandidateFilter(
        event_type=definition.event_type,
        needs_target=bool(definition.target_text or definition.selector),
        url_contains=(definition.url_contains,) if definition.url_contains else (),
        text_contains=(definition.target_text,) if definition.target_text else (),
        lower_hierarchy_contains=tuple(required_substrings(parse_selector(definition.selector)))
        if definition.selector
        else (),
    )


def event_groups(groups: Iterable[CandidateGroup]) -> Iterable[EventGroup]:
    """Storage's candidate groups, ready to be matched."""
    for group in groups:
        yield EventGroup(_matchable(group.candidate), group.bucket, group.size)


def _matchable(candidate: Candidate) -> MatchableEvent:
    return matchable_event(candidate.type, candidate.url, candidate.hierarchy, candidate.text)


def count_matches(matchers: Mapping[str, Matcher], groups: Iterable[EventGroup]) -> dict[str, int]:
    """How many events each matcher counts, in one pass over the groups."""
    counts = dict.fromkeys(matchers, 0)
    for group in groups:
        for key, matcher in matchers.items():
            if matcher.matches(group.event):
                counts[key] += group.size
    return counts


def count_over_time(
    matcher: Matcher, groups: Iterable[EventGroup], buckets: int
) -> tuple[int, list[int]]:
    """How many events the matcher counts in all, and in each of `buckets` buckets."""
    total, per_bucket = 0, [0] * buckets
    for group in groups:
        if matcher.matches(group.event):
            total += group.size
            if group.bucket is not None:
                per_bucket[group.bucket] += group.size
    return total, per_bucket


async def newest_matches(
    matcher: Matcher, candidates: AsyncIterable[tuple[str, Candidate]], limit: int
) -> list[str]:
    """The ids of the first `limit` (event_id, candidate) pairs that match, in the order given;
    reads no further candidate once it has them."""
    found: list[str] = []
    if limit <= 0:
        return found
    async for event_id, candidate in candidates:
        if matcher.matches(_matchable(candidate)):
            found.append(event_id)
            if len(found) == limit:
                break
    return found
