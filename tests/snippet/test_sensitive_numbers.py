"""Card and SSN numbers are removed however they are written (generated separators, splits and
encodings); ordinary numbers stay."""

import html
import re
from urllib.parse import quote, unquote

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from snippet.sensitive_numbers import luhn_valid, scrub_sensitive_numbers

# What people and pages put between the groups of a number.
SEPARATOR_CHARS = [
    " ", "\u00a0", "\t", "\n", "\r", "\u2009", "\u202f", "\u2007", "\u3000",
    "-", "\u2010", "\u2011", "\u2013", "\u2014", "\u2212", "\uff0d",
    ".", "+", "\u00b7", "\u200b", "\u200c", "\u2060", "\ufeff", "\u00ad",
]  # fmt: skip
SEPARATORS = st.lists(st.sampled_from(SEPARATOR_CHARS), min_size=1, max_size=3).map("".join) | (
    st.sampled_from(["\n        ", "\r\n\t\t", "  -  ", " \u200b "])
)
PREFIXES = st.sampled_from(["", "Card: ", "pay with ", "/checkout?card=", "ssn=", "A "])
SUFFIXES = st.sampled_from(["", " ok", "&next=a", "!", " exp", "#top", "</b>"])


def encoded(text: str, how: str) -> str:
    """`text` encoded as a browser or a server might meet it."""
    if how == "percent separators":
        return "".join(c if c.isalnum() else quote(c, safe="") for c in text)
    if how == "percent everything":
        return "".join(f"%{byte:02X}" for byte in text.encode())
    if how == "percent twice":
        return encoded(text, "percent everything").replace("%", "%25")
    if how == "plus for space":
        return text.replace(" ", "+")
    if how == "html entities":
        return "".join(c if c.isalnum() else f"&#{ord(c)};" for c in text)
    if how == "html entities escaped":
        return encoded(text, "html entities").replace("&", "&amp;")
    if how == "named entities":
        return text.replace("\u00a0", "&nbsp;").replace("\u2013", "&ndash;").replace("-", "&#x2D;")
    return text


ENCODINGS = st.sampled_from(
    [
        "plain",
        "percent separators",
        "percent everything",
        "percent twice",
        "plus for space",
        "html entities",
        "html entities escaped",
        "named entities",
    ]
)


def digits_read_back(text: str) -> str:
    """Every digit the text holds once decoded as a server would (entities, %XX, twice)."""
    for _ in range(3):
        text = unquote(html.unescape(text))
    return re.sub(r"\D", "", text)


@st.composite
def card_numbers(draw: st.DrawFn, valid: bool = True, length: int | None = None) -> str:
    """13 to 19 digits (or `length`) whose last is the Luhn check digit (not `valid`: any other)."""
    body = draw(st.text("0123456789", min_size=(length or 13) - 1, max_size=(length or 19) - 1))
    check = [d for d in "0123456789" if luhn_valid(body + d) is valid]
    return body + draw(st.sampled_from(check))


@st.composite
def written(draw: st.DrawFn, digits: str, min_split: int = 0) -> str:
    """`digits` split into groups at random places, with generated separators between."""
    cuts = sorted(draw(st.sets(st.integers(1, len(digits) - 1), min_size=min_split, max_size=7)))
    groups = [digits[a:b] for a, b in zip([0, *cuts], [*cuts, len(digits)], strict=True)]
    # A split with nothing between: the groups sat in separate elements.
    gaps = [draw(SEPARATORS | st.just("")) for _ in groups[1:]]
    return groups[0] + "".join(gap + group for gap, group in zip(gaps, groups[1:], strict=True))


@settings(max_examples=400, deadline=None)
@given(data=st.data(), encoding=ENCODINGS, prefix=PREFIXES, suffix=SUFFIXES)
def test_card_numbers_are_removed_however_written(
    data: st.DataObject, encoding: str, prefix: str, suffix: str
) -> None:
    card = data.draw(card_numbers())
    text = prefix + encoded(data.draw(written(card)), encoding) + suffix
    assert card not in digits_read_back(scrub_sensitive_numbers(text)), text


@settings(max_examples=300, deadline=None)
@given(data=st.data(), encoding=ENCODINGS, prefix=PREFIXES, suffix=SUFFIXES)
@example(data=None, encoding="plain", prefix="", suffix="")
def test_ssns_are_removed_however_written(
    data: st.DataObject | None, encoding: str, prefix: str, suffix: str
) -> None:
    groups = ["123", "45", "6789"]
    if data is not None:
        groups = [data.draw(st.text("0123456789", min_size=n, max_size=n)) for n in (3, 2, 4)]
    gaps = ["-", "-"] if data is None else [data.draw(SEPARATORS) for _ in range(2)]
    ssn = groups[0] + gaps[0] + groups[1] + gaps[1] + groups[2]
    text = prefix + encoded(ssn, encoding) + suffix
    assert "".join(groups) not in digits_read_back(scrub_sensitive_numbers(text)), text


@settings(max_examples=200, deadline=None)
@given(data=st.data(), separator=SEPARATORS, encoding=ENCODINGS)
def test_numbers_that_are_no_card_stay(data: st.DataObject, separator: str, encoding: str) -> None:
    not_card = data.draw(card_numbers(valid=False))
    # In groups of four: no shorter run of whole groups has 13 to 19 digits.
    sixteen = data.draw(card_numbers(valid=False, length=16))
    grouped = separator.join(sixteen[i : i + 4] for i in range(0, 16, 4))
    for text in (grouped, not_card, not_card + "0" * 7):  # 20+ digits in one run: no card
        kept = encoded(text, encoding)
        assert scrub_sensitive_numbers(kept) == kept


@pytest.mark.parametrize(
    "text",
    [
        "Total $1,299.99 incl. 19% VAT",
        "€ 12.50 on 2024-01-15 at 10:30",
        "Call +1 (555) 123-4567 or 555 123 4567",
        "Order #A-2024-000123-77",
        "2024-01-15 2025-12-31",
        "Page 1 of 12",
        "ISBN 978-3-16-148410-0",
        "192.168.100.200",
    ],
)
def test_ordinary_numbers_stay(text: str) -> None:
    assert scrub_sensitive_numbers(text) == text


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        ("4111111111111111", True),
        ("5500005555555559", True),
        ("378282246310005", True),  # Amex, 15 digits
        ("4111111111111112", False),
        ("1234567812345678", False),
    ],
)
def test_luhn(digits: str, valid: bool) -> None:
    assert luhn_valid(digits) is valid


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("Card 4111 1111 1111 1111 ok", "Card  ok"),
        ("4111-1111-1111-1111", ""),
        ("4111111111111111", ""),
        ("amex 378282246310005.", "amex ."),
        ("order 4111111111111112", "order 4111111111111112"),  # not Luhn-valid: kept
        ("ssn 123-45-6789!", "ssn !"),
        ("phone 555-123-4567", "phone 555-123-4567"),
        ("id 1234567890123", "id 1234567890123"),  # 13 digits, not Luhn-valid
        ("digits 41111111111111110000", "digits 41111111111111110000"),  # 20 digits: no card
        ("123-45-67890", "123-45-67890"),  # not SSN-shaped
        ("/orders/4111111111111111/view", "/orders//view"),
        ("no numbers", "no numbers"),
        ("", ""),
    ],
)
def test_scrubbing_card_and_ssn_like_numbers(text: str, scrubbed: str) -> None:
    assert scrub_sensitive_numbers(text) == scrubbed
