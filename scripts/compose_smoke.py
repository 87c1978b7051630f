"""Checks of the running Compose stack, run by ``scripts/compose-smoke.sh`` after ``up``.

One line per check (``scripts/smoke.py`` runs them); to add one, write another function below,
they run in the order written.

Traffic from the host goes only to the published gateway, http://127.0.0.1:5148, and to the
Wyoming server of the profile `wyoming` on 10300; what must not be published is read from Docker's
own port list, and what must not be reachable is tried from containers on the stack's networks.
Docker is driven through the Compose binary and client the script found (COMPOSE_BIN and DOCKER in
the environment, COMPOSE_FILE naming the files).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import httpx

from scripts.smoke import CheckFailed, Checks, Gateway, docker, expect, expect_envelope, expect_words

GATEWAY = "http://127.0.0.1:5148"
PUBLISHED_PORT = 5148
BACKENDS = {"asr": 5001, "coqui-tts": 5002}
SERVICES = ("gateway", "asr", "coqui-tts")
SENTENCE = "The quick brown fox jumps over the lazy dog, and the stack turns text into speech and back again."
# Long enough that its transcription is still running when `docker compose stop` is sent, short
# enough to finish well within the services' 30 s shutdown grace on a busy 2-core machine.
PARAGRAPH = " ".join(
    [
        "Every morning the lighthouse keeper climbed the narrow stairs to polish the great lamp.",
        "He counted the ships that passed the rocky point and wrote their names in a small book.",
        "When the storms came in autumn he stayed awake all night and kept the light burning.",
    ]
)
HEALTHY_TIMEOUT_SECONDS = 180
KILLED_ANSWER_SECONDS = 5


checks = Checks()
check = checks.check


# --- Docker ---------------------------------------------------------------------------------


def compose(*args: str, timeout: float = 300) -> str:
    result = subprocess.run(
        [os.environ["COMPOSE_BIN"], *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise CheckFailed(f"docker compose {' '.join(args)}: {result.stderr.strip()[-500:]}")
    return result.stdout


def docker_inspect(container_id: str) -> dict[str, Any]:
    docker = os.environ.get("DOCKER", "docker")
    result = subprocess.run([docker, "inspect", container_id], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(result.stdout)[0]


def containers() -> dict[str, dict[str, Any]]:
    """``docker compose ps --all`` by service (one container each)."""
    lines = compose("ps", "--all", "--format", "json").splitlines()
    return {entry["Service"]: entry for entry in map(json.loads, filter(None, lines))}


def container(service: str) -> dict[str, Any]:
    entry = containers().get(service)
    expect(entry is not None, f"no container for {service}")
    assert entry is not None
    return docker_inspect(entry["ID"])


def wait_healthy(services: tuple[str, ...], timeout: float = HEALTHY_TIMEOUT_SECONDS) -> float:
    started = time.monotonic()
    while True:
        states = {name: containers().get(name, {}).get("Health") for name in services}
        if all(state == "healthy" for state in states.values()):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise CheckFailed(f"not healthy after {timeout:g} s: {states}")
        time.sleep(1)


def service_logs(service: str, tail: int = 60) -> str:
    try:
        return compose("logs", "--no-color", "--tail", str(tail), service)
    except (CheckFailed, subprocess.SubprocessError) as exc:
        return f"(no logs: {exc})"


# --- The API, as a client sees it ------------------------------------------------------------

gateway = Gateway(GATEWAY)
client = gateway.client
speech, speak, transcribe = gateway.speech, gateway.speak, gateway.transcribe


def round_trip(response_format: str) -> str:
    started = time.monotonic()
    audio = speak(SENTENCE, response_format)
    spoken = time.monotonic()
    heard = transcribe(audio, f"speech.{response_format}")
    wer = expect_words(SENTENCE, heard)
    timing = f"speech {spoken - started:.1f} s, transcription {time.monotonic() - spoken:.1f} s"
    return f"WER {wer:.2f} ({timing}): {heard.strip()!r}"


def python_in(service: str, code: str) -> str:
    """Run ``code`` with the Python of a running service's container (as a client inside the stack)."""
    return compose("exec", "-T", service, "python", "-c", code).strip()


# --- The checks ------------------------------------------------------------------------------


@check(*SERVICES)
def all_services_healthy() -> str:
    states = {name: (entry.get("State"), entry.get("Health")) for name, entry in containers().items()}
    expect(set(states) == set(SERVICES), f"services: {sorted(states)}")
    expect(all(state == ("running", "healthy") for state in states.values()), f"states: {states}")
    return ", ".join(f"{name} healthy" for name in SERVICES)


@check("gateway")
def only_the_gateway_is_published() -> str:
    published = {
        name: sorted(
            {(p["PublishedPort"], p["TargetPort"]) for p in entry.get("Publishers") or [] if p["PublishedPort"]}
        )
        for name, entry in containers().items()
    }
    expected = {"gateway": [(PUBLISHED_PORT, 5000)], "asr": [], "coqui-tts": []}
    expect(published == expected, f"published ports: {published}")
    health = client.get("/healthz")
    expect(health.status_code == 200, f"/healthz on {PUBLISHED_PORT}: {health.status_code}")
    return "Docker publishes gateway 5148->5000 and nothing of asr or coqui-tts"


# Run in a container: a TCP connection to each backend, then the gateway's /healthz.
_REACH = """
import socket, urllib.request
for host, port in {backends}:
    try:
        socket.create_connection((host, port), timeout=5).close()
        print(host, "reachable")
    except OSError as exc:
        print(host, type(exc).__name__)
print("gateway", urllib.request.urlopen("http://gateway:5000/healthz", timeout=5).status)
"""


@check("gateway", "asr", "coqui-tts")
def backends_are_private() -> str:
    """Another stack's container on infra-net reaches the gateway but not the backends (no name, or
    refused); and inside the stack a backend answers a caller without BACKEND_TOKEN with 401."""
    image = container("gateway")["Config"]["Image"]
    lines = docker(
        "run", "--rm", "--network", "infra-net", "--entrypoint", "python", image, "-c",
        _REACH.format(backends=tuple(BACKENDS.items())),
    ).splitlines()  # fmt: skip
    outcome = dict(line.split(" ", 1) for line in lines)
    expect(outcome.get("gateway") == "200", f"the gateway from infra-net: {outcome}")
    for backend in BACKENDS:
        expect(outcome.get(backend) in ("gaierror", "ConnectionRefusedError"), f"{backend} from infra-net: {outcome}")
    # From the gateway's container (on the private network): no token 401, the token 200.
    statuses = python_in(
        "gateway",
        "import os, urllib.request, urllib.error\n"
        "def get(url, **headers):\n"
        "    try: return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10).status\n"
        "    except urllib.error.HTTPError as exc: return exc.code\n"
        "token = 'Bearer ' + os.environ['BACKEND_TOKEN']\n"
        "print(get('http://coqui-tts:5002/v1/audio/voices'), get('http://coqui-tts:5002/v1/audio/voices', "
        "Authorization='Bearer wrong-token-0123456789'), get('http://coqui-tts:5002/v1/audio/voices', "
        "Authorization=token), get('http://asr:5001/healthz'))",
    )
    expect(statuses == "401 401 200 200", f"coqui-tts without/wrong/with token, asr /healthz: {statuses}")
    reached = ", ".join(f"{backend} {outcome[backend]}" for backend in BACKENDS)
    return f"from infra-net: gateway 200, {reached}; a backend without or with a wrong token 401, with it 200"


@check("asr")
def asr_models_volume_is_where_compose_says() -> str:
    config = json.loads(compose("config", "--format", "json"))
    (volume,) = config["services"]["asr"]["volumes"]
    mounts = [(m["Type"], m["Source"], m["Destination"]) for m in container("asr")["Mounts"]]
    expect(mounts == [("bind", volume["source"], volume["target"])], f"asr mounts {mounts}, compose says {volume}")
    # A file written inside the container lands in the host folder compose names.
    marker = f"compose-smoke-{os.getpid()}"
    compose("exec", "-T", "asr", "python", "-c", f"open('{volume['target']}/{marker}', 'w').write('x')")
    host_file = Path(volume["source"]) / marker
    try:
        expect(host_file.is_file(), f"{host_file} not on the host")
    finally:
        compose("exec", "-T", "asr", "rm", "-f", f"{volume['target']}/{marker}")
    env = dict(line.partition("=")[::2] for line in container("asr")["Config"]["Env"])
    for name in ("HF_HOME", "TORCH_HOME"):
        expect(env.get(name, "").startswith(volume["target"] + "/"), f"{name}={env.get(name)} outside the volume")
    return f"{volume['source']} -> {volume['target']} (HF_HOME, TORCH_HOME inside)"


@check("gateway")
def docs_render() -> str:
    from urllib.parse import urlsplit

    from playwright.sync_api import Route, sync_playwright

    blocked: list[str] = []

    def only_the_gateway(route: Route) -> None:
        url = urlsplit(route.request.url)
        if (url.hostname, url.port) == ("127.0.0.1", PUBLISHED_PORT):
            route.continue_()
        else:  # as on a host without internet: the page must render from what the gateway serves
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.route("**/*", only_the_gateway)
            page.goto(f"{GATEWAY}/docs")
            page.locator(".opblock").first.wait_for(timeout=60_000)
            paths = {p.get_attribute("data-path") for p in page.locator(".opblock-summary-path").all()}
        finally:
            browser.close()
    wanted = {"/v1/audio/speech", "/v1/audio/transcriptions", "/v1/models"}
    expect(wanted <= paths, f"/docs shows {sorted(p for p in paths if p)}")
    expect(not blocked, f"/docs asked for {blocked}")
    return f"Swagger UI lists {len(paths)} routes, every asset from the gateway"


@check("gateway", "asr", "coqui-tts")
def speech_to_transcription_wav() -> str:
    return round_trip("wav")


@check("gateway", "asr", "coqui-tts")
def speech_to_transcription_mp3() -> str:
    return round_trip("mp3")


@check("gateway", "asr")
def realtime_transcription_through_the_gateway() -> str:
    """Live transcription (WebSocket /v1/realtime) with the OpenAI SDK's realtime client: speech from
    the stack's own TTS (response_format pcm is 24 kHz s16le mono, the realtime audio/pcm) comes
    back as one committed, completed turn saying the words."""
    import asyncio
    import base64

    from openai import AsyncOpenAI

    audio = bytes(24000) + speak(SENTENCE, "pcm") + bytes(48000)  # 0.5 s of silence before, 1 s after

    async def session() -> tuple[list[str], str]:
        sdk = AsyncOpenAI(base_url=f"{GATEWAY}/v1", api_key="unused", max_retries=0)
        seen: list[str] = []
        async with sdk.realtime.connect(extra_query={"intent": "transcription"}) as connection:
            manual = {"type": "transcription", "audio": {"input": {"turn_detection": None}}}
            await connection.session.update(session=manual)  # type: ignore[arg-type]
            for start in range(0, len(audio), 48000):  # a second a message
                chunk = base64.b64encode(audio[start : start + 48000]).decode()
                await connection.input_audio_buffer.append(audio=chunk)
            await connection.input_audio_buffer.commit()
            async for event in connection:
                seen.append(event.type)
                if event.type in ("error", "conversation.item.input_audio_transcription.failed"):
                    raise CheckFailed(f"{event.type}: {event}")
                if event.type == "conversation.item.input_audio_transcription.completed":
                    return seen, event.transcript
        raise CheckFailed(f"the session ended after {seen}")

    started = time.monotonic()
    seen, heard = asyncio.run(asyncio.wait_for(session(), 300))
    expect(seen[:2] == ["session.created", "session.updated"], f"events: {seen}")
    expect("input_audio_buffer.committed" in seen, f"no commit: {seen}")
    wer = expect_words(SENTENCE, heard)
    return f"WER {wer:.2f} ({len(audio) / 48000:.1f} s turn, {time.monotonic() - started:.1f} s): {heard.strip()!r}"


@check("gateway", "asr", "coqui-tts")
def tts_killed_then_started_again() -> str:
    gateway_before = container("gateway")["State"]["StartedAt"]
    audio = speak(SENTENCE, "wav")
    compose("kill", "coqui-tts")
    try:
        started = time.monotonic()
        error = expect_envelope(speech(SENTENCE, "wav"), 502)
        answered = time.monotonic() - started
        expect(answered <= KILLED_ANSWER_SECONDS, f"the 502 took {answered:.1f} s")
        expect_words(SENTENCE, transcribe(audio, "speech.wav"))  # the other backend keeps working
    finally:
        compose("start", "coqui-tts")
    back = wait_healthy(("coqui-tts",))
    speak(SENTENCE, "wav")
    gateway_after = container("gateway")["State"]
    expect(
        gateway_after["StartedAt"] == gateway_before and gateway_after["Running"],
        "the gateway was restarted",
    )
    return (
        f"502 {error['type']} in {answered:.1f} s while down, transcription still 200; "
        f"speech 200 again {back:.0f} s after start, same gateway"
    )


@check("gateway", "asr")
def stop_lets_a_running_transcription_finish() -> str:
    audio = speak(PARAGRAPH, "wav")
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["text"] = transcribe(audio, "paragraph.wav")
        except Exception as exc:  # reported below, in this thread
            outcome["error"] = exc

    request = threading.Thread(target=run)
    request.start()
    # In flight once the ASR reports its model loading or loaded (it unloads after each request).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and request.is_alive():
        ready = client.get("/readyz").json()
        if ((ready["backends"]["asr"].get("health") or {}).get("model")) in ("loading", "ready"):
            break
        time.sleep(0.1)
    expect(request.is_alive(), "the transcription ended before the stop could be sent")
    started = time.monotonic()
    compose("stop")
    stopped = time.monotonic() - started
    request.join(timeout=120)
    if "error" in outcome:
        raise CheckFailed(f"the transcription failed during the stop: {outcome['error']}")
    wer = expect_words(PARAGRAPH, outcome.get("text", ""))
    compose(
        "up", "--detach", "--wait", "--wait-timeout", str(HEALTHY_TIMEOUT_SECONDS), timeout=HEALTHY_TIMEOUT_SECONDS + 60
    )
    return f"transcription finished (WER {wer:.2f}) while the stack stopped in {stopped:.1f} s; stack up again"


# --- Custom voices -----------------------------------------------------------------------------
# The consent statement read by espeak-ng (on the host, as the tests make it); a voice sample
# spoken by Piper. The smoke stack speaks with Piper, which cannot clone: the cloning check runs
# coqui-tts for a while on the tiny XTTS checkpoint (built through the real Coqui classes) in the
# cache volume, then puts Piper back.


def consent(statement: str | None = None) -> httpx.Response:
    return gateway.consent(statement, name="compose smoke")


def restart(service: str) -> float:
    compose("restart", service)
    return wait_healthy((service,))


@check("gateway", "asr", "coqui-tts")
def voice_consent_is_checked_by_the_asr() -> str:
    from fixtures.conformance.schemas import validate

    accepted = consent()
    expect(accepted.status_code == 200, f"consent: {accepted.status_code} {accepted.text[:300]}")
    validate("VoiceConsentResource", accepted.json())
    consent_id = accepted.json()["id"]
    refused = expect_envelope(consent(SENTENCE), 400)
    expect(refused["param"] == "recording" and "I consent" in refused["message"], f"refusal: {refused}")
    sample = speak(PARAGRAPH, "wav")
    cannot = client.post(
        "/v1/audio/voices",
        data={"name": "smoke", "consent": consent_id},
        files={"audio_sample": ("sample.wav", sample)},
    )
    expect(expect_envelope(cannot, 400)["code"] == "voice_cloning_unsupported", f"Piper cloning: {cannot.text}")
    restart("coqui-tts")
    kept = client.get(f"/v1/audio/voice_consents/{consent_id}")
    expect(kept.status_code == 200, f"consent after a restart: {kept.status_code} {kept.text[:300]}")
    deleted = client.delete(f"/v1/audio/voice_consents/{consent_id}")
    expect(deleted.status_code == 200, f"delete: {deleted.status_code} {deleted.text[:300]}")
    validate("VoiceConsentDeletedResource", deleted.json())
    return "the statement accepted, another sentence refused, Piper refuses to clone, the consent survives a restart"


@check("gateway", "asr", "coqui-tts")
def cloning_with_xtts() -> str:
    from fixtures.conformance.schemas import validate
    from fixtures.speech import speech_file
    from fixtures.tiny_xtts import build_tiny_xtts

    model = Path(os.environ["COQUI_CACHE_PATH"]) / "tiny-xtts"
    if not (model / "config.json").is_file():
        with warnings.catch_warnings():  # torchaudio's deprecation notices would land amid the check lines
            warnings.simplefilter("ignore", UserWarning)
            build_tiny_xtts(model)
    override = Path(os.environ["COQUI_CACHE_PATH"]).parent / "xtts.yml"
    override.write_text(
        "services:\n  coqui-tts:\n    environment:\n      TTS_ENGINE: coqui\n"
        "      COQUI_MODEL: /root/.local/share/tts/tiny-xtts\n"
    )
    files = os.environ["COMPOSE_FILE"]
    os.environ["COMPOSE_FILE"] = f"{files}:{override}"
    try:
        compose("up", "--detach", "--wait", "coqui-tts", timeout=HEALTHY_TIMEOUT_SECONDS + 60)
        consent_id = consent().json()["id"]
        sample = speech_file(PARAGRAPH, "wav").read_bytes()  # Piper, on the host
        created = client.post(
            "/v1/audio/voices",
            data={"name": "smoke voice", "consent": consent_id},
            files={"audio_sample": ("sample.wav", sample)},
        )
        expect(created.status_code == 200, f"voice: {created.status_code} {created.text[:300]}")
        validate("VoiceResource", created.json())
        voice = {"id": created.json()["id"]}
        for response_format in ("wav", "mp3"):
            spoken = client.post(
                "/v1/audio/speech",
                json={"model": "tts-1", "voice": voice, "input": SENTENCE, "response_format": response_format},
            )
            expect(
                spoken.status_code == 200 and len(spoken.content) > 1000,
                f"speech {response_format}: {spoken.text[:300]}",
            )
        restart("coqui-tts")
        listed = client.get("/v1/audio/voices").json()
        expect(voice["id"] in [v["id"] for v in listed.get("custom", [])], f"after a restart: {listed.get('custom')}")
        again = client.post("/v1/audio/speech", json={"model": "tts-1", "voice": voice["id"], "input": SENTENCE})
        expect(again.status_code == 200, f"speech after a restart: {again.status_code} {again.text[:300]}")
        expect(client.delete(f"/v1/audio/voice_consents/{consent_id}").status_code == 200, "consent delete")
        gone = client.post("/v1/audio/speech", json={"model": "tts-1", "voice": voice, "input": SENTENCE})
        expect(expect_envelope(gone, 400)["param"] == "voice", f"speech after the consent went: {gone.text[:300]}")
    finally:
        os.environ["COMPOSE_FILE"] = files
        compose("up", "--detach", "--wait", "coqui-tts", timeout=HEALTHY_TIMEOUT_SECONDS + 60)
    return (
        "consent, a voice from a Piper sample, speech with it (wav, mp3), kept across a restart, gone with its consent"
    )


# --- Home Assistant's protocol ---------------------------------------------------------------
WYOMING_PORT = 10300


@check("wyoming", "gateway", "asr", "coqui-tts")
def wyoming_server_of_the_profile() -> str:
    """The service of the profile `wyoming` (built and started here, removed afterwards), driven by
    the wyoming library's client on its published port: describe, synthesize a sentence, and
    transcribe that speech back."""
    import asyncio

    from wyoming.asr import Transcript
    from wyoming.tts import SynthesizeVoice

    from fixtures.wyoming_client import audio_of, describe, synthesize, transcribe

    profile = ("--profile", "wyoming")
    started = time.monotonic()
    compose(*profile, "up", "--detach", "--wait", "--wait-timeout", str(HEALTHY_TIMEOUT_SECONDS), "wyoming",
            timeout=HEALTHY_TIMEOUT_SECONDS + 600)  # fmt: skip
    up = time.monotonic() - started
    try:
        info = asyncio.run(describe(WYOMING_PORT))
        voices = [voice.name for voice in info.tts[0].voices]
        expect("alloy" in voices and info.asr[0].models[0].languages == ["en"], f"info: {info}")
        spoken = asyncio.run(synthesize(WYOMING_PORT, SENTENCE, SynthesizeVoice(name="alloy")))
        expect(spoken[-1].type == "audio-stop", f"synthesize: {[event.type for event in spoken][-3:]}")
        audio = bytes(24000) + audio_of(spoken) + bytes(48000)  # 24 kHz s16le: silence before and after
        events = asyncio.run(transcribe(WYOMING_PORT, audio, rate=24000))
        expect(events[-1].type == "transcript-stop", f"transcribe: {[event.type for event in events][-3:]}")
        heard = Transcript.from_event(events[-2]).text
        wer = expect_words(SENTENCE, heard)
    finally:
        compose(*profile, "rm", "--stop", "--force", "wyoming")
    return f"up in {up:.0f} s; {len(voices)} voices; WER {wer:.2f} through synthesize and transcribe: {heard!r}"


def main() -> int:
    return checks.run("compose-smoke", service_logs)


if __name__ == "__main__":
    sys.exit(main())
