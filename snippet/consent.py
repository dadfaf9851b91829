"""Consent (beyond Heap): whether this page may store cookies and send events."""

from dataclasses import dataclass
from typing import Literal

Choice = Literal["in", "out"] | None


def read_consent_cookie(raw: str | None) -> Choice:
    """The visitor's remembered choice from `_ff_consent.<appId>` ("1" in, "0" out)."""
    value = (raw or "").strip()
    if value == "1":
        return "in"
    if value == "0":
        return "out"
    return None


def consent_cookie_value(choice: Literal["in", "out"]) -> str:
    """What `_ff_consent.<appId>` holds for a choice."""
    return "1" if choice == "in" else "0"


@dataclass
class Consent:
    """The site's requirement and the visitor's choice, and what they allow."""

    require_consent: bool
    choice: Choice = None

    @property
    def opted_out(self) -> bool:
        return self.choice == "out"

    @property
    def allows_tracking(self) -> bool:
        """Whether cookies may be written and events sent."""
        if self.choice is not None:
            return self.choice == "in"
        return not self.require_consent

    @property
    def awaiting(self) -> bool:
        """Consent is required and not given yet: capture is held in memory, nothing leaves."""
        return self.require_consent and self.choice is None
