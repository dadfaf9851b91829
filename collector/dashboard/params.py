"""Query parameters of the dashboard's pages, read strictly: ValueError says what is wrong."""

from collector.dashboard.chart import DEFAULT_RANGE, RANGES


def page_number(text: str) -> int:
    """`?page=`: a whole number from 1."""
    if not _is_whole_number(text, max_digits=9) or int(text) < 1:  # SQL offsets stay 64-bit
        raise ValueError("page must be a whole number from 1")
    return int(text)


def range_name(text: str | None) -> str:
    """`?range=`: one of the chart's ranges, DEFAULT_RANGE when absent."""
    name = text or DEFAULT_RANGE
    if name not in RANGES:
        raise ValueError(f"range must be one of {', '.join(RANGES)}")
    return name


def cursor(text: str) -> tuple[int, str] | None:
    """`?before=<time>:<event_id>` from an "older" link, or None when absent."""
    if not text:
        return None
    time_text, _, event_id = text.partition(":")
    if not _is_whole_number(time_text, max_digits=18) or not event_id:
        raise ValueError("before must look like <time>:<event_id>")
    return int(time_text), event_id


def _is_whole_number(text: str, *, max_digits: int) -> bool:
    """ASCII digits only (str.isdigit also takes "²", which int() refuses), and few enough
    that SQLite can bind the number."""
    return text.isascii() and text.isdigit() and len(text) <= max_digits
