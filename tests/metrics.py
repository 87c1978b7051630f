"""Reading a service's ``GET /metrics`` as Prometheus does: parsed by prometheus-client's own parser."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families


class Exposition:
    """One scrape: every sample, by name and labels."""

    def __init__(self, text: str) -> None:
        self.samples = [
            (sample.name, sample.labels, sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples called ``name`` whose labels include ``labels`` (0 if none)."""
        return sum(value for sample, have, value in self.samples if sample == name and labels.items() <= have.items())

    def labels(self, name: str, label: str) -> set[str]:
        """The values ``label`` takes among the samples called ``name``."""
        return {have[label] for sample, have, _ in self.samples if sample == name and label in have}


def added(before: Exposition, after: Exposition, name: str, **labels: str) -> float:
    """How much ``name`` (with ``labels``) grew from one scrape to the next."""
    return after.value(name, **labels) - before.value(name, **labels)


def scrape(url: str, headers: Mapping[str, str] | None = None) -> Exposition:
    response = httpx.get(f"{url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")  # no Accept asks for another
    return Exposition(response.text)
