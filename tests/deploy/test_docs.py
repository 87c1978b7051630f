"""The README and docs/ as a newcomer reads them: the README stays short and shows the two commands
CI and the quick start depend on, and every link between the documents leads somewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.deployment import ROOT

README = ROOT / "README.md"
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
# [text](target): a relative target, with or without a #fragment (web links are not followed).
LINK = re.compile(r"\]\((?!https?://|mailto:)([^)\s]*)\)")


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(document: Path) -> set[str]:
    text = FENCE.sub("", document.read_text())  # a "# comment" in a code block is no heading
    return {_slug(match) for match in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


def test_readme_is_short() -> None:
    assert len(README.read_text().splitlines()) <= 250


def test_readme_shows_the_two_commands_and_ci_runs_the_second() -> None:
    blocks = [body for lang, body in FENCE.findall(README.read_text()) if lang == "bash"]
    commands = {line for body in blocks for line in body.splitlines()}
    assert {"./scripts/run-local.sh", "./scripts/test.sh"} <= commands
    assert (ROOT / ".ci" / "run").read_text().splitlines()[-1] == "./scripts/test.sh"


def test_the_readme_leads_to_every_document() -> None:
    linked = {link.partition("#")[0] for link in LINK.findall(README.read_text())}
    assert {f"docs/{path.name}" for path in DOCUMENTS[1:]} <= linked


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_link_leads_to_a_file_and_heading_that_exist(document: Path) -> None:
    text = FENCE.sub("", document.read_text())
    for link in LINK.findall(text):
        target, _, fragment = link.partition("#")
        path = (document.parent / target).resolve() if target else document
        assert path.exists(), f"{document.name}: {link}"
        if fragment:
            assert fragment in _anchors(path), f"{document.name}: {link}"
