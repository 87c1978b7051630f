"""Checks of the Swarm stack with replicas, run by ``scripts/scale-smoke.sh`` after ``docker stack deploy``.

One line per check (``scripts/smoke.py`` runs them), in the order written. Traffic from the host goes
only to the published gateway, http://127.0.0.1:$SWARM_PORT. Which replica served a request is read
from the replicas' own access lines (one per request, with the request id the gateway passes on): every
request a check sends carries an ``x-request-id`` of its own. Docker is driven through the client the
script found (DOCKER in the environment); STACK names the stack.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from fixtures.waiting import wait_until
from scripts.smoke import CheckFailed, Checks, Gateway, docker, envelope, expect, expect_words

STACK = os.environ.get("STACK", "speech-swarm")
PORT = int(os.environ.get("SWARM_PORT", "5149"))
UP_TIMEOUT_SECONDS = float(os.environ.get("UP_TIMEOUT_SECONDS", "600"))
WANTED = {"gateway": 1, "asr": 2, "coqui-tts": 2}
BACKEND_PORTS = {"asr": 5001, "coqui-tts": 5002}
SENTENCE = "Please send the final report to the office before Friday."  # ~3 s spoken
ACCESS_LINE_SECONDS = 10  # the longest a replica's access line may come after its answer
CONVERGE_SECONDS = 300  # a replaced or restarted replica: started, healthy and seen by the gateway
KILLED_ANSWER_SECONDS = 60  # every request in flight when a replica dies has its answer by then
# What a client may retry (the OpenAI SDKs retry 408, 409, 429 and 5xx).
RETRYABLE = {408, 409, 429, 500, 502, 503, 504}
TRANSCRIPTION = "POST /v1/audio/transcriptions"
# The gateway's own lines about a failed exchange with an ASR replica (a connection that broke or was
# refused), with the request's id.
GATEWAY_ASR_LINE = re.compile(r"\[(?P<id>[^\]]+)\] gateway\.(backends|replicas): ASR backend ")
ACCESS_LINE = re.compile(r'\[(?P<id>[^\]]+)\] access: "(?P<route>[A-Z]+ \S+)" (?P<status>\d+|-)')

checks = Checks()
check = checks.check
gateway = Gateway(f"http://127.0.0.1:{PORT}")


# --- Docker ----------------------------------------------------------------------------------


def service(name: str) -> str:
    return f"{STACK}_{name}"


@dataclass(frozen=True)
class Replica:
    """One running container of a service (a Swarm task)."""

    id: str
    name: str
    health: str


def replicas(name: str) -> list[Replica]:
    """The running containers of ``name``."""
    ids = docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service(name)}").split()
    if not ids:
        return []
    found = []
    for entry in json.loads(docker("inspect", *ids)):
        if entry["State"]["Running"]:
            health = (entry["State"].get("Health") or {}).get("Status", "none")
            found.append(Replica(entry["Id"][:12], entry["Name"].lstrip("/"), health))
    return sorted(found, key=lambda replica: replica.name)


def output(*args: str) -> str:
    """What a ``docker logs`` or ``docker service logs`` command shows: the containers' stdout and
    stderr (the services log to stderr, which these commands pass on as their own)."""
    result = subprocess.run(
        [os.environ.get("DOCKER", "docker"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout


def service_logs(name: str, tail: int = 60) -> str:
    try:
        return output("service", "logs", "--no-task-ids", "--tail", str(tail), service(name))
    except subprocess.SubprocessError as exc:
        return f"(no logs: {exc})"


def served(replica: Replica, route: str) -> dict[str, int | None]:
    """The requests a replica answered on ``route``, by request id: their status (None: the client
    went away before one was sent). Read from the container's own access lines."""
    answered: dict[str, int | None] = {}
    for match in ACCESS_LINE.finditer(output("logs", replica.id)):
        if match["route"] == route:
            answered[match["id"]] = None if match["status"] == "-" else int(match["status"])
    return answered


def serving(ids: Iterable[str], replicas_: list[Replica], route: str = TRANSCRIPTION) -> dict[str, list[str]]:
    """Which of ``replicas_`` answered each of ``ids`` (by the replicas' access lines). A replica
    writes the line once the response has gone out, so a line may come a moment after the answer."""
    ids = list(ids)
    deadline = time.monotonic() + ACCESS_LINE_SECONDS
    while True:
        answered = {replica.name: served(replica, route) for replica in replicas_}
        where = {request_id: [name for name, seen in answered.items() if request_id in seen] for request_id in ids}
        if all(where.values()) or time.monotonic() > deadline:
            return where
        time.sleep(0.5)


def readiness() -> dict[str, Any]:
    try:
        return gateway.client.get("/readyz", timeout=10).json()
    except (httpx.HTTPError, ValueError) as exc:
        return {"error": str(exc)}


def converged() -> str | None:
    """None when every service runs its wanted replicas, all healthy, and the gateway sees (and gets
    an answer from) every backend replica; else what is still missing."""
    for name, wanted in WANTED.items():
        running = replicas(name)
        healthy = [replica for replica in running if replica.health == "healthy"]
        if len(running) != wanted or len(healthy) != wanted:
            return f"{name}: {len(healthy)} healthy of {len(running)} running, {wanted} wanted"
    ready = readiness()
    for name, key in (("asr", "asr"), ("coqui-tts", "tts")):
        seen = ready.get("backends", {}).get(key, {})
        if (seen.get("replicas"), seen.get("answering")) != (WANTED[name], WANTED[name]):
            return f"the gateway's /readyz for {key}: {seen or ready}"
    return None


def wait_converged(timeout: float = CONVERGE_SECONDS) -> float:
    started = time.monotonic()
    while (missing := converged()) is not None:
        if time.monotonic() - started > timeout:
            raise CheckFailed(f"not converged after {timeout:g} s: {missing}")
        time.sleep(1)
    return time.monotonic() - started


def update_asr(*args: str) -> None:
    """``docker service update`` of the ASR service; returns once Swarm reports it converged."""
    docker("service", "update", "--quiet", *args, service("asr"), timeout=CONVERGE_SECONDS)


# --- Requests --------------------------------------------------------------------------------


@dataclass
class Outcome:
    id: str
    started: float
    ended: float
    status: int  # 0: no answer at all (the client's transport failed)
    detail: str  # the transcript, or what went wrong


_clip: list[bytes] = []


def clip() -> bytes:
    """SENTENCE spoken by the stack's own TTS (made once)."""
    if not _clip:
        _clip.append(gateway.speak(SENTENCE, "wav"))
    return _clip[0]


def transcribe(request_id: str) -> Outcome:
    started = time.monotonic()
    try:
        response = gateway.transcription(clip(), "speech.wav", request_id)
    except httpx.HTTPError as exc:
        return Outcome(request_id, started, time.monotonic(), 0, repr(exc))
    ended = time.monotonic()
    if response.status_code == 200:
        return Outcome(request_id, started, ended, 200, response.json()["text"])
    return Outcome(request_id, started, ended, response.status_code, response.text[:300])


def transcribe_all(ids: list[str], concurrency: int) -> list[Outcome]:
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(transcribe, ids))


def expect_transcribed(outcomes: Iterable[Outcome]) -> None:
    for outcome in outcomes:
        expect(outcome.status == 200, f"{outcome.id}: {outcome.status} {outcome.detail}")
        expect_words(SENTENCE, outcome.detail)


RUN = f"{os.getpid()}-{int(time.time())}"  # request ids differ from one run to the next
_numbers = itertools.count()


def run_ids(prefix: str, count: int) -> list[str]:
    """``count`` request ids that no other request of any run has."""
    return [f"{prefix}-{RUN}-{next(_numbers)}" for _ in range(count)]


def split(where: dict[str, list[str]]) -> dict[str, int]:
    """How many requests each replica answered (each request by exactly one)."""
    for request_id, names in where.items():
        expect(len(names) == 1, f"{request_id} answered by {names or 'no replica'}")
    counts: dict[str, int] = {}
    for names in where.values():
        counts[names[0]] = counts.get(names[0], 0) + 1
    return counts


def short(name: str) -> str:
    """A task's container name without its id: speech-swarm_asr.1.<id> -> asr.1."""
    return ".".join(name.removeprefix(f"{STACK}_").split(".")[:2])


# --- The checks --------------------------------------------------------------------------------


@check("gateway", "asr", "coqui-tts")
def all_replicas_healthy() -> str:
    took = wait_converged(UP_TIMEOUT_SECONDS)
    ready = readiness()["backends"]
    counts = ", ".join(f"{name} {len(replicas(name))}" for name in WANTED)
    seen = ", ".join(f"{key} {ready[key]['answering']} of {ready[key]['replicas']}" for key in ("asr", "tts"))
    return f"healthy replicas: {counts} (in {took:.0f} s); the gateway's /readyz: {seen} answering"


@check("gateway")
def only_the_gateway_is_published() -> str:
    published: dict[str, list[tuple[int, int, str]]] = {}
    networks: dict[str, set[str]] = {}
    for name in WANTED:
        spec = json.loads(docker("service", "inspect", service(name)))[0]
        ports = spec.get("Endpoint", {}).get("Ports") or []
        published[name] = [(p["PublishedPort"], p["TargetPort"], p["PublishMode"]) for p in ports]
        attached = spec["Spec"]["TaskTemplate"].get("Networks") or []
        networks[name] = {json.loads(docker("network", "inspect", n["Target"]))[0]["Name"] for n in attached}
    expect(published == {"gateway": [(PORT, 5000, "host")], "asr": [], "coqui-tts": []}, f"published: {published}")
    private, public = service("private"), service("public")
    expect(networks["asr"] == networks["coqui-tts"] == {private}, f"backend networks: {networks}")
    expect(networks["gateway"] == {public, private}, f"gateway networks: {networks['gateway']}")
    expect(json.loads(docker("network", "inspect", private))[0]["Internal"] is True, f"{private} is not internal")
    # From inside the stack, a caller without BACKEND_TOKEN is refused by every backend replica.
    (gateway_replica,) = replicas("gateway")
    probe = (
        "import sys, urllib.request as r, urllib.error as e\n"
        "try:\n    r.urlopen(sys.argv[1], timeout=10); print(200)\n"
        "except e.HTTPError as x:\n    print(x.code)\n"
    )
    statuses = {
        name: docker("exec", gateway_replica.id, "python", "-c", probe, f"http://tasks.{name}:{port}/v1/models").strip()
        for name, port in BACKEND_PORTS.items()
    }
    expect(set(statuses.values()) == {"401"}, f"a caller without BACKEND_TOKEN got {statuses}")
    return f"only the gateway, on {PORT} (host mode); backends only on {private} (internal); 401 without the token"


@check("gateway", "asr")
def eight_concurrent_transcriptions_on_both_asr_replicas() -> str:
    clip()
    ids = run_ids("eight", 8)
    started = time.monotonic()
    outcomes = transcribe_all(ids, 8)
    took = time.monotonic() - started
    expect_transcribed(outcomes)
    counts = split(serving(ids, replicas("asr")))
    expect(len(counts) == 2, f"answered by {counts}: one replica did all the work")
    return f"8 x 200, WER <= 0.2, in {took:.1f} s; " + ", ".join(f"{short(n)} {c}" for n, c in sorted(counts.items()))


@check("gateway", "asr", "coqui-tts")
def a_consent_is_listed_by_every_later_request() -> str:
    created = gateway.consent(name="scale smoke")
    expect(created.status_code == 200, f"consent: {created.status_code} {created.text[:300]}")
    consent_id = created.json()["id"]
    deleted = False
    try:
        present = _every_replica_agrees(consent_id, listed=True)
        response = gateway.client.delete(f"/v1/audio/voice_consents/{consent_id}")
        expect(response.status_code == 200, f"delete: {response.status_code} {response.text[:300]}")
        deleted = True
        gone = _every_replica_agrees(consent_id, listed=False)
    finally:
        if not deleted:
            gateway.client.delete(f"/v1/audio/voice_consents/{consent_id}")
    return f"listed and found by {present}; after its deletion, absent and 404 on {gone}"


def _every_replica_agrees(consent_id: str, *, listed: bool) -> str:
    """16 lists and 16 lookups of the consent, four at a time: each one sees it (or, once deleted,
    none does), and both TTS replicas answered some of them."""

    def ask(request_id: str) -> tuple[str, bool]:
        headers = {"x-request-id": request_id}
        if request_id.startswith("list"):
            response = gateway.client.get("/v1/audio/voice_consents", params={"limit": 100}, headers=headers)
            expect(response.status_code == 200, f"list: {response.status_code} {response.text[:300]}")
            return request_id, consent_id in [entry["id"] for entry in response.json()["data"]]
        response = gateway.client.get(f"/v1/audio/voice_consents/{consent_id}", headers=headers)
        if response.status_code == 404:
            envelope(response)
        expect(response.status_code in (200, 404), f"lookup: {response.status_code} {response.text[:300]}")
        return request_id, response.status_code == 200

    ids = [*run_ids("list", 16), *run_ids("lookup", 16)]
    with ThreadPoolExecutor(4) as pool:
        seen = dict(pool.map(ask, ids))
    disagreeing = sorted(request_id for request_id, found in seen.items() if found is not listed)
    expect(not disagreeing, f"{len(disagreeing)} of {len(ids)} requests disagree (listed={listed}): {disagreeing[:4]}")
    tts = replicas("coqui-tts")
    lists = serving(ids[:16], tts, "GET /v1/audio/voice_consents")
    lookups = serving(ids[16:], tts, f"GET /v1/audio/voice_consents/{consent_id}")
    counts = split({**lists, **lookups})
    expect(len(counts) == 2, f"answered by {counts}: one TTS replica did all the work")
    return " and ".join(f"{short(name)} ({count})" for name, count in sorted(counts.items()))


@check("gateway", "asr")
def an_asr_replica_killed_during_load() -> str:
    """Four clients keep transcribing; one ASR replica's container is killed while it works. What was
    in flight ends within KILLED_ANSWER_SECONDS, as a 200 or a retryable error; what starts after the
    kill is served by the other replica; Swarm's replacement gets work once it is up."""
    victim, survivor = replicas("asr")
    outcomes: list[Outcome] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            outcomes.append(transcribe(*run_ids("kill", 1)))

    workers = [threading.Thread(target=client) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        # Killed once it has answered one of these requests: it is working on the next by then.
        mine = f"kill-{RUN}-"
        wait_until(lambda: any(i.startswith(mine) for i in served(victim, TRANSCRIPTION)), 60, "load on the victim")
        killed = time.monotonic()
        docker("kill", victim.id)
        # Keep the load on until eight requests that started after the kill have their answers.
        wait_until(lambda: sum(o.started > killed for o in outcomes) >= 8, 180, "requests after the kill")
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=KILLED_ANSWER_SECONDS + 60)
    expect(not any(worker.is_alive() for worker in workers), "a request hung")
    in_flight = [o for o in outcomes if o.started < killed < o.ended]
    after = [o for o in outcomes if o.started > killed]
    slow = [o.id for o in in_flight if o.ended - killed > KILLED_ANSWER_SECONDS]
    expect(not slow, f"answered more than {KILLED_ANSWER_SECONDS} s after the kill: {slow}")
    failed = [o for o in in_flight if o.status != 200]
    for outcome in failed:
        expect(outcome.status in RETRYABLE, f"{outcome.id}: not retryable: {outcome.status} {outcome.detail}")
        envelope(httpx.Response(outcome.status, content=outcome.detail.encode()))
    expect_transcribed(o for o in in_flight if o.status == 200)
    expect_transcribed(after)
    # The gateway's account of the requests the dead replica dropped.
    (gateway_replica,) = replicas("gateway")
    about_asr = {m["id"] for m in GATEWAY_ASR_LINE.finditer(output("logs", gateway_replica.id))}
    dropped = {o.id for o in in_flight if o.id in about_asr}
    dropped_outcomes = sorted(o.status for o in in_flight if o.id in dropped)
    expect(dropped, f"no request was in flight on the killed replica (in flight: {[o.id for o in in_flight]})")
    # Swarm starts a new task in the dead one's place; the gateway finds it by name, and it gets work.
    back = time.monotonic() - killed + wait_converged()
    (replacement,) = [replica for replica in replicas("asr") if replica.id not in (victim.id, survivor.id)]
    # What started after the kill: served by the survivor (and, once it was up, the replacement).
    later = split(serving([o.id for o in after], [survivor, replacement]))
    expect(survivor.name in later, f"the survivor {survivor.name} answered none of the requests after the kill")
    ids = run_ids("again", 4)
    expect_transcribed(transcribe_all(ids, 4))
    again = split(serving(ids, [replacement, survivor]))
    expect(replacement.name in again, f"the replacement {replacement.name} got none of {again}")
    worst = max(o.ended - killed for o in in_flight)
    return (
        f"{len(in_flight)} in flight at the kill, {len(dropped)} of them on {short(victim.name)}: answered "
        f"{dropped_outcomes} within {worst:.1f} s; {len(after)} started after it: all 200 "
        f"({', '.join(f'{short(n)} {c}' for n, c in sorted(later.items()))}); the replacement "
        f"{short(replacement.name)} up {back:.0f} s after the kill, then served {again[replacement.name]} of 4"
    )


@check("gateway", "asr")
def max_queue_0_two_concurrent_requests_one_per_replica() -> str:
    """With no wait queue (MAX_QUEUE=0) a replica answers 429 to a second request while it works:
    two at once still both succeed, one on each replica."""
    started = time.monotonic()
    update_asr("--env-add", "MAX_QUEUE=0")
    try:
        wait_converged()
        updated = time.monotonic() - started
        asr = replicas("asr")
        ids = run_ids("queue0", 2)
        outcomes = transcribe_all(ids, 2)
        expect_transcribed(outcomes)
        counts = split(serving(ids, asr))
        expect(sorted(counts.values()) == [1, 1], f"answered by {counts}")
        # A third at the same time finds both replicas working and no queue: 429, to retry later.
        statuses = sorted(outcome.status for outcome in transcribe_all(run_ids("queue0-full", 3), 3))
        expect(statuses == [200, 200, 429], f"three at once: {statuses}")
    finally:
        started = time.monotonic()
        update_asr("--rollback")
        wait_converged()
        restored = time.monotonic() - started
    return (
        f"2 at once: 200 by each replica; 3 at once: 200, 200, 429 (rolling update {updated:.0f} s, "
        f"rolled back in {restored:.0f} s)"
    )


def main() -> int:
    return checks.run("scale-smoke", service_logs)


if __name__ == "__main__":
    sys.exit(main())
