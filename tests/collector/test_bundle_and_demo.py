"""The tracker bundle and the demo site over real HTTP: MIME types, caching, compression, CORS,
and the install snippet in place."""

import json
from collections.abc import Iterator

import httpx
import pytest

import build
from tests.live_server import LiveServer, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("bundle-server")
    build.build(folder / "tracker")
    with start_server(folder, "--demo", "--bundle-dir", str(folder / "tracker")) as live:
        yield live


def manifest(server: LiveServer) -> dict[str, str]:
    answer = httpx.get(f"{server.url}/js/manifest.json")
    assert answer.status_code == 200
    return dict(answer.json())


def test_the_loader_is_served_for_any_app_id_with_short_caching(server: LiveServer) -> None:
    for app_id in ("demo", "1234567890", "unknown-app"):
        answer = httpx.get(f"{server.url}/js/heap-{app_id}.js")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/javascript")
        assert answer.headers["cache-control"] == "public, max-age=300"
        assert answer.headers["access-control-allow-origin"] == "*"
        assert (
            f'"{manifest(server)["worker"]}"' in answer.text
        )  # the loader, pointing at the worker


@pytest.mark.parametrize("accept", ["gzip, deflate, br, zstd", "gzip", ""])
def test_heaps_current_snippet_gets_the_same_loader_at_its_path(
    server: LiveServer, accept: str
) -> None:
    classic = httpx.get(f"{server.url}/js/heap-1234567890.js", headers={"Accept-Encoding": accept})
    for env_id in ("1234567890", "demo"):
        current = httpx.get(
            f"{server.url}/config/{env_id}/heap_config.js", headers={"Accept-Encoding": accept}
        )
        assert current.status_code == 200
        assert current.content == classic.content
        for header in (
            "content-type",
            "content-encoding",
            "cache-control",
            "vary",
            "access-control-allow-origin",
            "cross-origin-resource-policy",
        ):
            assert current.headers.get(header) == classic.headers.get(header), header
    assert httpx.head(f"{server.url}/config/1/heap_config.js").status_code == 200
    assert httpx.get(f"{server.url}/config/1/other.js").status_code == 404


@pytest.mark.parametrize(
    ("accept", "encoding"),
    [
        ("gzip, deflate, br, zstd", "zstd"),  # Chromium's header: the smallest variant
        ("gzip, deflate, br", "br"),
        ("br;q=0, gzip", "gzip"),
        ("zstd;q=0.0, gzip;q=0.5", "gzip"),
        ("identity", None),
        ("", None),
    ],
)
def test_hashed_files_are_immutable_and_compressed_as_accepted(
    server: LiveServer, accept: str, encoding: str | None
) -> None:
    files = manifest(server)
    plain = httpx.get(f"{server.url}/js/{files['boot']}", headers={"Accept-Encoding": ""})
    for name, media_type in (
        (f"{files['runtime']}pyodide.asm.wasm", "application/wasm"),
        (files["boot"], "application/octet-stream"),
        (files["worker"], "text/javascript; charset=utf-8"),
    ):
        answer = httpx.get(f"{server.url}/js/{name}", headers={"Accept-Encoding": accept})
        assert answer.status_code == 200
        assert answer.headers["content-type"] == media_type
        assert answer.headers.get("content-encoding") == encoding, name
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    # httpx decodes every variant: each holds the same bytes, in fewer of them.
    url = f"{server.url}/js/{files['boot']}"
    boot_file = httpx.get(url, headers={"Accept-Encoding": accept})
    assert boot_file.content == plain.content
    if encoding:
        assert int(boot_file.headers["content-length"]) < len(plain.content) // 4


@pytest.mark.parametrize(
    "path",
    [
        "/js/../pyproject.toml",
        "/js/%2e%2e/%2e%2e/pyproject.toml",
        "/js/loader.js.gz",
        "/js/loader.js.br",
        "/js/loader.js.zst",
        "/js/x",
    ],
)
def test_nothing_outside_the_bundle_is_served(server: LiveServer, path: str) -> None:
    answer = httpx.get(f"{server.url}{path}")
    assert answer.status_code == 404
    assert "[project]" not in answer.text


def test_demo_pages_carry_heaps_snippet_pointed_at_this_server(server: LiveServer) -> None:
    page = httpx.get(f"{server.url}/demo/")
    assert page.status_code == 200
    assert f'r.src="{server.url}/js/heap-"+e+".js"' in page.text
    assert 'heap.load("demo");' in page.text
    embedded = httpx.get(f"{server.url}/demo/airkit-app.html?app=shop-1").text
    config = json.dumps({"preset": "airkit"})
    assert f'heap.load("shop-1", {config});' in embedded
    bare = httpx.get(f"{server.url}/demo/?tracker=off").text
    assert "heap.load" not in bare and "heap-snippet" not in bare


@pytest.mark.parametrize(
    ("path", "status"),
    [("/demo/nope.html", 404), ("/demo/?app=bad%20id", 400), ("/demo/../pyproject.toml", 404)],
)
def test_bad_demo_requests_get_a_clear_answer(server: LiveServer, path: str, status: int) -> None:
    assert httpx.get(f"{server.url}{path}").status_code == status


def test_a_missing_page_name_is_not_reflected_as_html(server: LiveServer) -> None:
    # The dashboard shares this origin: a reflected tag would run with the admin's session.
    answer = httpx.get(f"{server.url}/demo/%3Cimg%20src=x%20onerror=alert(1)%3E")
    assert answer.status_code == 404
    assert "<img" not in answer.text and "&lt;img src=x onerror=alert(1)&gt;" in answer.text


def test_the_root_leads_to_the_demo(server: LiveServer) -> None:
    answer = httpx.get(f"{server.url}/", follow_redirects=False)
    assert answer.status_code in (302, 307)
    assert answer.headers["location"].endswith("/demo/")
