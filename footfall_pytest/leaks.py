"""Finding a secret in what a page sent and kept: the forms it takes on the way, and where."""

import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

EXCERPT_CHARS = 30
SHORTEST_SECRET = 4  # shorter strings turn up in random ids and encodings by chance


@dataclass(frozen=True)
class Sighting:
    """One place a secret was found: `where` (a request, a cookie, a file), in which form."""

    secret: str
    where: str
    form: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.where} ({self.form}): …{self.excerpt}…"


def check_secrets(secrets: Sequence[str]) -> None:
    """Refuse secrets that cannot be searched for meaningfully, saying what to pass instead."""
    if not secrets:
        raise ValueError("assert_never_sent needs at least one secret string")
    for secret in secrets:
        if not isinstance(secret, str) or len(secret) < SHORTEST_SECRET:
            raise ValueError(
                f"assert_never_sent: {secret!r} is not a string of at least {SHORTEST_SECRET}"
                " characters; shorter ones match ids and encodings by chance: pass the whole"
                " secret"
            )


def forms_of(secret: str) -> dict[str, str]:
    """The secret as typed and as it travels (form: text): JSON-escaped or not, then URL-encoded
    (as Python's quote and quote_plus, or JavaScript's encodeURIComponent do) or not; or
    HTML-escaped. Heap's cookies, for one, are URL-encoded JSON."""
    in_json = {
        "": secret,
        "JSON-escaped": json.dumps(secret)[1:-1],
        "JSON-escaped, non-ASCII kept": json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    in_url: dict[str, Callable[[str], str]] = {
        "": lambda text: text,
        "URL-encoded": lambda text: quote(text, safe=""),
        "URL-encoded, / kept": quote,
        "URL-encoded as encodeURIComponent does": lambda text: quote(text, safe="!'()*~"),
        "form-encoded": quote_plus,
    }
    forms = {"HTML-escaped": html.escape(secret)}
    for json_name, json_text in in_json.items():
        for url_name, encode in in_url.items():
            name = ", then ".join(part for part in (json_name, url_name) if part) or "as is"
            forms[name] = encode(json_text)
    distinct: dict[str, str] = {}
    for name in sorted(forms, key=lambda name: (name != "as is", len(name))):
        if forms[name] not in distinct.values():
            distinct[name] = forms[name]
    return distinct


def find_in_text(secrets: Sequence[str], text: str, where: str) -> list[Sighting]:
    """Every secret found in `text`, one sighting per secret and form."""
    found = []
    for secret in secrets:
        for form, needle in forms_of(secret).items():
            at = text.find(needle)
            if at != -1:
                found.append(Sighting(secret, where, form, _excerpt(text, at, len(needle))))
    return found


def find_in_bytes(secrets: Sequence[str], data: bytes, where: str) -> list[Sighting]:
    """Every secret found in `data` as UTF-8 bytes, with the byte offset it was found at."""
    found = []
    for secret in secrets:
        for form, needle in forms_of(secret).items():
            encoded = needle.encode("utf-8")
            at = data.find(encoded)
            if at != -1:
                around = data[max(0, at - EXCERPT_CHARS) : at + len(encoded) + EXCERPT_CHARS]
                excerpt = around.decode("utf-8", "replace").replace("\x00", "·")
                found.append(Sighting(secret, f"{where} at byte {at}", form, repr(excerpt)[1:-1]))
    return found


def _excerpt(text: str, at: int, length: int) -> str:
    around = text[max(0, at - EXCERPT_CHARS) : at + length + EXCERPT_CHARS]
    return repr(around)[1:-1]
