"""GET /playground: the static page, its files, its features document, and how API_KEY applies to it.

The page itself is exercised in real browsers by tests/e2e/test_playground_browser.py (Chromium)
and tests/e2e/test_playground_firefox.py (Firefox); this file checks what the gateway serves.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from fixtures.servers import REPO, Server, run_service
from gateway.consent import STATEMENTS

ASSETS = REPO / "gateway" / "playground"
KEY = "sk-playground-test"
JAVASCRIPT = ("text/javascript", "application/javascript")
# What the HTML loads (scripts and stylesheets, not links to other pages).
PAGE_REFERENCES = re.compile(r'<(?:script|link)\b[^>]*?(?:src|href)="([^"#:]+)"')
# Module imports and `new URL("x.mjs", import.meta.url)` (the audio worklet).
MODULE_REFERENCES = re.compile(r"""(?:\bfrom\s+|new URL\(\s*)["']([^"':]+\.mjs)["']""")
ABSOLUTE_URL = re.compile(r"\b(?:https?|wss?):/+\w")


@pytest.fixture(scope="module")
def keyed_gateway(fake: Server, work_dir: Path) -> Iterator[Server]:
    env = {"ASR_BASE_URL": fake.url, "TTS_BASE_URL": fake.url, "API_KEY": KEY}
    with run_service("gateway", env, tmp_dir=work_dir) as server:
        yield server


def _page_files(base: str) -> dict[str, httpx.Response]:
    """Every URL the page loads: its HTML references, then each module's imports, transitively."""
    page = httpx.get(f"{base}/playground")
    assert page.status_code == 200
    found = {urljoin(f"{base}/playground", ref) for ref in PAGE_REFERENCES.findall(page.text)}
    fetched: dict[str, httpx.Response] = {}
    while found:
        url = found.pop()
        if url in fetched:
            continue
        response = fetched[url] = httpx.get(url)
        if url.endswith(".mjs") and response.status_code == 200:
            found |= {urljoin(url, ref) for ref in MODULE_REFERENCES.findall(response.text)}
    return fetched


def test_page_is_served_with_its_type_cache_and_content_policy(gateway: Server) -> None:
    response = httpx.get(f"{gateway.url}/playground")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy
    assert 'role="alert"' in response.text

    etag = response.headers["etag"]
    revalidated = httpx.get(f"{gateway.url}/playground", headers={"If-None-Match": etag})
    assert revalidated.status_code == 304
    assert revalidated.content == b""
    assert revalidated.headers["etag"] == etag


def test_every_file_the_page_loads_is_served_locally_with_the_right_type(gateway: Server) -> None:
    files = _page_files(gateway.url)
    paths = {url.removeprefix(gateway.url) for url in files}
    # The entry module, the modules it imports, the audio worklet and the stylesheet.
    assert {"/playground/app.mjs", "/playground/pcm-worklet.mjs", "/playground/playground.css"} <= paths, paths
    for url, response in files.items():
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "no-cache", url
        assert response.headers["etag"], url
        content_type = response.headers["content-type"].split(";")[0]
        if url.endswith(".mjs"):
            assert content_type in JAVASCRIPT, (url, content_type)  # module scripts need a JavaScript type
        elif url.endswith(".css"):
            assert content_type == "text/css", (url, content_type)
        assert not ABSOLUTE_URL.search(response.text), f"{url} names another origin"
    served = {url.rsplit("/", 1)[1] for url in files} | {"index.html"}
    assert served == {path.name for path in ASSETS.iterdir()}, "files in gateway/playground the page never loads"


def test_the_python_package_ships_every_playground_file() -> None:
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = package_data["gateway"]
    for path in ASSETS.rglob("*"):
        relative = path.relative_to(REPO / "gateway").as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative


def test_trailing_slash_redirects_to_the_page(gateway: Server) -> None:
    response = httpx.get(f"{gateway.url}/playground/")
    assert response.status_code == 307
    assert response.headers["location"] == "/playground"


def test_docs_description_links_the_playground(gateway: Server) -> None:
    description = httpx.get(f"{gateway.url}/openapi.json").json()["info"]["description"]
    assert "](playground)" in description  # relative: /docs and /redoc resolve it to /playground


def test_features_document(gateway: Server) -> None:
    features = httpx.get(f"{gateway.url}/playground/features.json")
    assert features.status_code == 200
    assert features.headers["cache-control"] == "no-store"
    # No key set here; Clone shows the statements the consent check holds recordings to.
    assert features.json() == {"api_key_required": False, "consent_statements": STATEMENTS}


def test_with_api_key_the_page_is_open_and_the_api_is_not(keyed_gateway: Server) -> None:
    assert httpx.get(f"{keyed_gateway.url}/playground").status_code == 200
    assert httpx.get(f"{keyed_gateway.url}/playground/app.mjs").status_code == 200
    features = httpx.get(f"{keyed_gateway.url}/playground/features.json")
    assert features.status_code == 200
    assert features.json()["api_key_required"] is True
    assert KEY not in features.text
    assert httpx.get(f"{keyed_gateway.url}/v1/audio/voices").status_code == 401
    authorized = httpx.get(f"{keyed_gateway.url}/v1/audio/voices", headers={"Authorization": f"Bearer {KEY}"})
    assert authorized.status_code == 200, authorized.text
