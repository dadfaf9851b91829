"""What the worker calls: `start(boot_message_json)` once, then `receive(message_json)`."""

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

from snippet import ops
from snippet.browser import Browser
from snippet.delivery import RunTask
from snippet.inbound import BadInput, Message, parse_message
from snippet.tracker import Tracker


class Receiver:
    """Hands the loader's later messages to the tracker; never raises into JavaScript."""

    def __init__(self, browser: Browser, tracker: Tracker | None) -> None:
        self._browser = browser
        self.tracker = tracker

    def receive(self, message_json: str) -> None:
        """Handle one loader message (docs/protocol.md, section 1)."""
        if self.tracker is None:
            return
        try:
            message = parse_message(message_json)
            self.tracker.receive(message)
            _acknowledge(self._browser, message)
        except BadInput as error:
            _warn(self._browser, f"ignored a message: {error}")
        except Exception as error:  # the page never gets an exception from us
            _warn(self._browser, f"internal error on a message: {error!r}")


def start(
    boot_message_json: str, browser: Browser | None = None, run_task: RunTask | None = None
) -> Receiver:
    """Boot the tracker from the loader's first message and return what takes the next ones.
    `browser` and `run_task` default to the Pyodide worker's; tests pass fakes."""
    if browser is None:
        from snippet.pyodide_browser import PyodideBrowser  # only importable inside Pyodide

        browser = PyodideBrowser()
    tracker: Tracker | None = None
    try:
        message = parse_message(boot_message_json)
        if message.boot is None:
            raise BadInput("the first message must carry 'boot'")
        tracker = Tracker(browser, message.boot, run_task or _run_on_event_loop)
        tracker.start(message)
        _acknowledge(browser, message)
    except BadInput as error:
        _warn(browser, f"not tracking: {error}")
    except Exception as error:
        _warn(browser, f"internal error while starting: {error!r}")
    return Receiver(browser, tracker)


def _acknowledge(browser: Browser, message: Message) -> None:
    """Tell the loader every record of `message` is handled, so it forgets them (a record not
    acknowledged when the page hides goes to the journal: docs/protocol.md, section 6)."""
    if message.seq is not None:
        browser.post_to_page(ops.handled(message.seq))


def _run_on_event_loop(coroutine: Coroutine[Any, Any, None]) -> object:
    return asyncio.ensure_future(coroutine)


def _warn(browser: Browser, message: str) -> None:
    with contextlib.suppress(Exception):  # nothing left to tell the page with
        browser.post_to_page(ops.warn(message))
