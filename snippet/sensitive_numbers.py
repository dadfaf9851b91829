"""Card and SSN numbers, however they are written, removed from any text the tracker sends.

The rule: digits that a person reads as one number are one number, whatever lies between their
groups (any spaces, tabs or line breaks, dashes, dots, `+`, invisible characters) and however the
text is encoded (percent-encoding, even twice, and HTML entities, as a browser or a server would
decode them). Such a run of 13 to 19 digits that passes the Luhn check is a card number; groups of
3, 2 and 4 digits are an SSN. Both are removed from the text as written. Other numbers stay: a
price, a date, a phone number, an id that fails the Luhn check.
"""

import codecs
import html
import re

_CARD_DIGITS = range(13, 20)
_SSN_GROUPS = (3, 2, 4)
_DIGITS = re.compile(r"\d+")
# What may separate the groups of one number: whitespace, dashes, dots, plus signs, and
# characters that render as nothing (soft hyphen, zero-width and direction marks, BOM).
_SEPARATOR_NOT_SPACE = (
    r".\u00b7\u2027"
    r"\-\u058a\u05be\u1400\u1806\u2010-\u2015\u2e3a\u2e3b\u2212\ufe58\ufe63\uff0d"
    r"\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff"
)
# A gap between groups: at most three separators, a run of whitespace (or of `+`, a space in a
# query string) counting as one; possessive, so a long gap that is not one fails at once.
_GAP = re.compile(rf"(?:[\s+]++|[{_SEPARATOR_NOT_SPACE}]){{1,3}}")
# A run of %XX escapes, or an HTML entity (named, decimal or hex; the ';' optional, as browsers).
_ENCODED = re.compile(
    r"(?:%[0-9A-Fa-f]{2})+|&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});?"
)
_DECODING_ROUNDS = 3  # percent-encoding of percent-encoding of HTML entities, say

Span = tuple[int, int]


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check that card numbers carry."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def scrub_sensitive_numbers(text: str) -> str:
    """`text` without its card-like and SSN-like numbers (the module's rule)."""
    if sum(char.isdigit() for char in text) < 9:  # cheap exit: most text has no long numbers
        return text
    decoded, origins = _decoded(text)
    cuts = [(origins[start][0], origins[end - 1][1]) for start, end in _sensitive_spans(decoded)]
    if not cuts:
        return text
    kept, position = [], 0
    for start, end in sorted(cuts):
        if start > position:
            kept.append(text[position:start])
        position = max(position, end)
    kept.append(text[position:])
    return "".join(kept)


def _sensitive_spans(text: str) -> list[Span]:
    """Where card-like and SSN-like numbers lie in plain (decoded) text."""
    spans: list[Span] = []
    for chain in _digit_chains(text):
        groups = [text[start:end] for start, end in chain]
        for first in range(len(chain)):
            digits = ""
            for last in range(first, len(chain)):
                digits += groups[last]
                if len(digits) > _CARD_DIGITS[-1]:
                    break
                is_card = len(digits) in _CARD_DIGITS and luhn_valid(digits)
                is_ssn = tuple(map(len, groups[first : last + 1])) == _SSN_GROUPS
                if is_card or is_ssn:
                    spans.append((chain[first][0], chain[last][1]))
    return spans


def _digit_chains(text: str) -> list[list[Span]]:
    """Runs of digit groups that only gaps separate: what a person reads as one number each."""
    chains: list[list[Span]] = []
    for group in _DIGITS.finditer(text):
        previous = chains[-1][-1] if chains else None
        if previous is not None and _GAP.fullmatch(text, previous[1], group.start()):
            chains[-1].append(group.span())
        else:
            chains.append([group.span()])
    return chains


def _decoded(text: str) -> tuple[str, list[Span]]:
    """`text` with HTML entities and percent-encoding decoded (a few rounds), and for each of its
    characters the span of `text` it came from."""
    origins = [(index, index + 1) for index in range(len(text))]
    for _ in range(_DECODING_ROUNDS):
        if "%" not in text and "&" not in text:
            break
        decoded, spans = _decode_once(text)
        if decoded == text:
            break
        origins = [(origins[start][0], origins[end - 1][1]) for start, end in spans]
        text = decoded
    return text, origins


def _decode_once(text: str) -> tuple[str, list[Span]]:
    """One round of decoding, each decoded character with the span of `text` it came from."""
    chars: list[str] = []
    spans: list[Span] = []
    position = 0
    for found in _ENCODED.finditer(text):
        for index in range(position, found.start()):
            chars.append(text[index])
            spans.append((index, index + 1))
        if found.group().startswith("&"):
            for char in html.unescape(found.group()):
                chars.append(char)
                spans.append(found.span())
        else:
            _percent_decode(found.group(), found.start(), chars, spans)
        position = found.end()
    for index in range(position, len(text)):
        chars.append(text[index])
        spans.append((index, index + 1))
    return "".join(chars), spans


def _percent_decode(run: str, offset: int, chars: list[str], spans: list[Span]) -> None:
    """Decode a run of %XX escapes as UTF-8, each character spanning the escapes it came from."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    raw = bytes.fromhex(run.replace("%", ""))
    first = 0  # the first byte of the character being decoded
    for index in range(len(raw) + 1):
        final = index == len(raw)
        decoded = decoder.decode(b"" if final else raw[index : index + 1], final)
        for char in decoded:
            chars.append(char)
            spans.append((offset + 3 * first, offset + 3 * min(index + 1, len(raw))))
        if decoded:
            first = index + 1
