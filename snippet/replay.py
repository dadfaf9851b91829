"""What the page did before Python started: the loader keeps it and hands it over at boot, and
it is handled strictly in the order it happened (docs/protocol.md, section 1).

Heap's stub queue is the start of it: the loader puts the calls the page queued in `window.heap`
first, then the page load it observed, then what followed. Nothing is moved ahead: each call sees
the state the ones before it made, so `heap.track('Logout'); heap.resetIdentity()` counts Logout
for the user who logged out, and a track queued before `addEventProperties` does not get them.
(PostHog and Segment move identity calls first; Heap's own queue, and ours, do not.)
"""

from collections.abc import Callable, Iterable


def replay(records: Iterable[object], handle: Callable[[object], None]) -> None:
    """Hand each buffered record to `handle` in the order the loader observed it, none moved
    ahead of another; `handle` must not raise (a bad record costs only itself)."""
    for record in records:
        handle(record)
