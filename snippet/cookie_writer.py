"""Where cookies are written: the probed domain, writes held until it is known, only changed
values, and telling this tab's own writes from another tab's."""

from collections.abc import Callable, Iterable

from snippet import ops
from snippet.browser import Browser
from snippet.cookies import cookie_assignment, domain_candidates

_REMEMBERED_WRITES = 16  # per cookie: enough to recognise our own values that arrive late


class CookieWriter:
    """Turns the cookie values the tracker wants into `set_cookies` and `probe_cookie_domain`
    ops for the loader."""

    def __init__(
        self, browser: Browser, *, hostname: str, probe_name: str, attributes: str
    ) -> None:
        self._browser = browser
        self._candidates = domain_candidates(hostname)
        self._probe_name = probe_name
        self._attributes = attributes
        self.domain: str | None = None if self._candidates else ""  # None: not probed yet
        self._probed = False
        self._written: dict[str, str] = {}
        self._recent: dict[str, list[str]] = {}
        self._seen: dict[str, str] = {}

    def probe_domain(self) -> None:
        """Ask the loader, once, for the highest domain that takes a cookie."""
        if self.domain is None and not self._probed:
            self._probed = True
            self._browser.post_to_page(
                ops.probe_cookie_domain(self._candidates, self._probe_name, self._attributes)
            )

    def set_domain(self, domain: str) -> str | None:
        """Take the loader's answer; a domain we did not offer falls back to host-only, and the
        problem is returned."""
        if domain and domain not in self._candidates:
            self.domain = ""
            return f"cookie domain {domain!r} was not a candidate; using host-only cookies"
        self.domain = domain
        return None

    def write(self, values: dict[str, str], expires_ms: Callable[[str], float]) -> None:
        """Write the values that changed since the last write; hold them until the domain is
        known (probing for it)."""
        if not values:
            return
        if self.domain is None:
            self.probe_domain()
            return
        changed = {name: v for name, v in values.items() if self._written.get(name) != v}
        if not changed:
            return
        domain = self.domain
        self._browser.post_to_page(
            ops.set_cookies(
                [
                    cookie_assignment(
                        name,
                        value,
                        domain=domain,
                        expires_ms=expires_ms(name),
                        attributes=self._attributes,
                    )
                    for name, value in changed.items()
                ]
            )
        )
        self._written.update(changed)
        for name, value in changed.items():
            self._recent[name] = [*self._recent.get(name, [])[1 - _REMEMBERED_WRITES :], value]

    def expire(self, names: Iterable[str]) -> None:
        """Delete cookies host-only and on every candidate domain: Heap may have set them on any."""
        names = list(names)
        self._browser.post_to_page(
            ops.set_cookies(
                [
                    cookie_assignment(
                        name, "", domain=domain, expires_ms=None, attributes=self._attributes
                    )
                    for name in names
                    for domain in ["", *self._candidates]
                ]
            )
        )
        for name in names:
            self._written.pop(name, None)

    def saw(self, jar: dict[str, str]) -> None:
        """Note the page's cookies as they stand (at boot)."""
        self._seen = jar

    def changed_elsewhere(self, jar: dict[str, str], names: Iterable[str]) -> dict[str, str]:
        """The cookies among `names` that changed since the last look and that this tab did not
        write: another tab of the site wrote them."""
        changed = {
            name: jar[name]
            for name in names
            if name in jar
            and jar[name] != self._seen.get(name)
            and jar[name] not in self._recent.get(name, ())
        }
        self._seen = jar
        return changed
