"""Finding secrets in what was sent and kept (footfall_pytest/leaks.py), for generated secrets
in each form the way they travel: URL query, form body, JSON, HTML, raw bytes of a file."""

import html
import json
from urllib.parse import quote, quote_plus, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from footfall_pytest.leaks import check_secrets, find_in_bytes, find_in_text, forms_of

# Secrets with separators, spaces, quotes, slashes, non-ASCII: what people type and pages show.
secrets = st.text(
    alphabet=st.sampled_from("aZ09 -_./:@+&=%\"'<>é€😀\\"), min_size=4, max_size=24
).filter(lambda text: text.strip() == text and text.strip())


def carried(secret: str) -> list[str]:
    """The secret inside the containers it leaves a page in."""
    return [
        f"https://collector.test/api/ingest?{urlencode({'q': secret})}",
        f"a=1&note={quote_plus(secret)}&b=2",
        json.dumps({"records": [{"properties": {"note": secret}}]}),
        json.dumps({"note": secret}, ensure_ascii=False),
        f'<p title="{html.escape(secret)}">',
        f"_hp2_props.1={quote(json.dumps({'note': secret}), safe='')}",
        "_hp2_props.1=" + quote(json.dumps({"note": secret}, ensure_ascii=False), safe="~()*!'"),
    ]


@given(secrets)
def test_a_secret_is_found_in_every_container(secret: str) -> None:
    for text in carried(secret):
        assert find_in_text([secret], text, "here"), (secret, text)


@given(secrets)
def test_a_secret_is_found_in_bytes_of_a_file(secret: str) -> None:
    data = b"\x00SQLite\x01" + json.dumps({"n": secret}, ensure_ascii=False).encode() + b"\xff"
    [sighting, *_] = find_in_bytes([secret], data, "db")
    assert sighting.where.startswith("db at byte ") and sighting.secret == secret


@given(secrets, secrets)
def test_other_text_is_not_a_sighting(secret: str, other: str) -> None:
    if any(form in other for form in forms_of(secret).values()):
        return
    assert find_in_text([secret], other, "here") == []


def test_a_sighting_says_where_in_which_form() -> None:
    [sighting] = find_in_text(["4242 4242"], "card=4242%204242&x", "request POST /api/ingest")
    assert str(sighting) == "request POST /api/ingest (URL-encoded): …card=4242%204242&x…"


@pytest.mark.parametrize("bad", ["", "abc", 1234])
def test_a_secret_too_short_to_search_for_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="at least 4 characters"):
        check_secrets([bad])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="at least one secret"):
        check_secrets([])
