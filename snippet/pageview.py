"""A page's URL parts, when a navigation is a pageview, and the UTM campaign it carries."""

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from snippet.redact import scrub_sensitive_numbers
from snippet.validate import EVENT_VALUE_MAX
from snippet.wire import PAGE_FIELDS, PAGE_TEXT_MAX, UTM_PARAMETERS, Page


@dataclass(frozen=True)
class PageParts:
    """A page as events carry it: query keeps its "?", hash its "#", both '' when absent."""

    url: str = ""
    domain: str = ""
    path: str = ""
    query: str = ""
    hash: str = ""
    title: str = ""
    referrer: str = ""

    def as_wire(self) -> Page:
        """The event's `page` object."""
        return {name: getattr(self, name) for name in PAGE_FIELDS}


def page_parts(page: dict[str, str]) -> PageParts:
    """Split the loader's {url, title, referrer} into parts, card/SSN-like numbers scrubbed and
    each cut at PAGE_TEXT_MAX characters, so a page with a huge URL still sends its events."""
    url = scrub_sensitive_numbers(page["url"][:PAGE_TEXT_MAX])
    title = scrub_sensitive_numbers(page["title"][:PAGE_TEXT_MAX])
    referrer = scrub_sensitive_numbers(page["referrer"][:PAGE_TEXT_MAX])
    try:
        split = urlsplit(url)
        domain = split.hostname or ""
    except ValueError:  # e.g. a malformed IPv6 host: keep the url, leave the parts empty
        return PageParts(url=url, title=title, referrer=referrer)
    return PageParts(
        url=url,
        domain=domain,
        path=split.path or ("/" if split.netloc else ""),
        query=f"?{split.query}" if split.query else "",
        hash=f"#{split.fragment}" if split.fragment else "",
        title=title,
        referrer=referrer,
    )


def starts_pageview(cause: str, current: PageParts | None, new: PageParts) -> bool:
    """A load is always a pageview; a history change only when the path or hash changed."""
    if cause == "load" or current is None:
        return True
    return (new.path, new.hash) != (current.path, current.hash)


def utm_properties(query: str) -> dict[str, str]:
    """The UTM parameters of a query string ("?a=1&utm_source=x"), first value of each."""
    found: dict[str, str] = {}
    for name, value in parse_qsl(query.removeprefix("?")):
        if name in UTM_PARAMETERS and name not in found:
            found[name] = value[:EVENT_VALUE_MAX]
    return found
