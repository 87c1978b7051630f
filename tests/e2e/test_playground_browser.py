"""/playground in a real headless Chromium (Debian's, driven by Playwright) against the quick-start stack.

The stack is README command 1's (tiny.en + Piper). Chromium's fake microphone plays a Piper
recording (``--use-file-for-fake-audio-capture``), so Record and Live are checked on the words
transcribed from it. Every request the page makes to anything but the gateway's origin is aborted
and fails the test, as does any uncaught error in the page. Every section is always
shown; what the engine cannot do (Piper cannot clone) the page says in the section.

``PLAYGROUND_SCREENSHOTS=docs`` writes a screenshot of each section there (docs/playground-*.png).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, Route, WebSocket, expect, sync_playwright

from fixtures.servers import Server, run_service
from fixtures.speech import SENTENCE, SENTENCES, espeak_file, speech, speech_file
from fixtures.stack import LocalStack
from fixtures.wer import word_error_rate
from gateway.consent import STATEMENTS
from tests.e2e.checks import decode_speech
from tests.e2e.test_docs_browser import CHROMIUM, CHROMIUM_ARGS

MICROPHONE_TEXT = SENTENCES[:2]
CONSENT_STATEMENT = STATEMENTS["en"]
TIMEOUT_MS = 60_000
SCREENSHOTS = os.environ.get("PLAYGROUND_SCREENSHOTS")
KEY = "sk-playground-browser"


@dataclass
class PlaygroundPage:
    page: Page
    origin: str
    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def section(self, name: str) -> Locator:
        return self.page.get_by_role("region", name=name, exact=True)

    def open(self) -> None:
        self.page.goto(f"{self.origin}/playground")
        self.page.locator("body[data-ready]").wait_for()

    def audio_duration(self, selector: str) -> float:
        self.page.wait_for_function(
            "(s) => { const a = document.querySelector(s); return Number.isFinite(a.duration) && a.duration > 0 }",
            arg=selector,
        )
        return self.page.eval_on_selector(selector, "a => a.duration")

    def download(self, link: Locator) -> tuple[str, bytes]:
        """Click a download link as a person would: the file's suggested name and its bytes."""
        with self.page.expect_download() as info:
            link.click()
        download = info.value
        return download.suggested_filename, Path(download.path()).read_bytes()

    def screenshot(self, section: str, name: str) -> None:
        if SCREENSHOTS:
            self.section(section).screenshot(path=str(Path(SCREENSHOTS) / f"playground-{name}.png"))


@pytest.fixture(scope="module")
def microphone_file() -> Path:
    return speech_file(MICROPHONE_TEXT, "wav")


@pytest.fixture(scope="module")
def browser(microphone_file: Path) -> Iterator[Browser]:
    fake_microphone = [
        "--use-fake-ui-for-media-stream",  # grant the microphone without a prompt
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone_file}%noloop",  # the file once, then silence
    ]
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *fake_microphone])
        yield browser
        browser.close()


@contextmanager
def _open(browser: Browser, origin: str) -> Iterator[PlaygroundPage]:
    """A fresh browser context on the playground; at the end, nothing left the origin and nothing threw."""
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = PlaygroundPage(context.new_page(), origin)

    def same_origin_only(route: Route) -> None:
        url = route.request.url
        if f"{urlsplit(url).scheme}://{urlsplit(url).netloc}" == origin:
            route.continue_()
        else:
            page.foreign.append(url)
            route.abort("internetdisconnected")

    def websocket(socket: WebSocket) -> None:
        if urlsplit(socket.url).netloc != urlsplit(origin).netloc:
            page.foreign.append(socket.url)

    context.route("**/*", same_origin_only)
    page.page.on("websocket", websocket)
    page.page.on("pageerror", lambda error: page.errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert page.foreign == [], f"requests left the server's origin: {page.foreign}"
    assert page.errors == [], f"uncaught errors in the page: {page.errors}"


@pytest.fixture
def playground(browser: Browser, embedded_stack: LocalStack) -> Iterator[PlaygroundPage]:
    with _open(browser, embedded_stack.url) as page:
        yield page


def test_speak_plays_every_format_and_offers_the_download(playground: PlaygroundPage) -> None:
    playground.open()
    speak = playground.section("Speak")
    voices = speak.get_by_label("Voice").locator("option")
    assert voices.count() >= 14  # the 13 OpenAI names and Piper's speaker
    speak.get_by_label("Text").fill(SENTENCE)
    durations: dict[str, float] = {}
    for response_format in ("opus", "aac", "flac", "wav", "pcm", "mp3"):  # mp3 last: the screenshot
        speak.get_by_label("Format").select_option(response_format)
        speak.get_by_role("button", name="Speak").click()
        download = speak.get_by_role("link", name="Download")
        expect(download).to_be_visible()
        durations[response_format] = playground.audio_duration("#speak-audio")
        expect(speak.get_by_role("alert")).to_be_hidden()
        streamed = response_format in ("mp3", "aac")  # Chromium's MediaSource takes both
        expected = "played while it streamed" if streamed else "played once complete"
        expect(speak.get_by_role("status")).to_contain_text(expected)
        # The player's length is the length of the audio behind Download, decoded as its format.
        name, data = playground.download(download)
        assert name == f"speech.{response_format}"
        audio = decode_speech(data, response_format)
        assert audio.seconds > 1.5, f"{response_format}: {audio.seconds:.2f} s for a whole sentence"
        assert abs(durations[response_format] - audio.seconds) < 0.15, (response_format, durations, audio.seconds)
    playground.screenshot("Speak", "speak")

    # Speed: twice as fast is about half as long.
    speak.get_by_label("Format").select_option("wav")
    speak.get_by_label("Speed").fill("2")
    expect(speak.locator("#speak-speed-value")).to_have_text("2.00×")
    speak.get_by_role("button", name="Speak").click()
    expect(speak.get_by_role("status")).to_contain_text("played once complete")
    ratio = playground.audio_duration("#speak-audio") / durations["wav"]
    assert 0.35 < ratio < 0.7, ratio


def test_transcribe_a_file_as_text_srt_and_verbose_json(playground: PlaygroundPage) -> None:
    playground.open()
    section = playground.section("Transcribe")
    transcript = section.get_by_role("region", name="Transcript")
    section.get_by_label("Audio file").set_input_files(speech_file(SENTENCE, "wav", engine="espeak"))
    results: dict[str, str] = {}
    for response_format in ("text", "srt", "verbose_json"):
        section.get_by_label("Response format").select_option(response_format)
        section.get_by_role("button", name="Transcribe").click()
        expect(section.get_by_role("status")).to_contain_text("Transcribed speech-")
        expect(section.get_by_role("alert")).to_be_hidden()
        results[response_format] = transcript.inner_text()
    assert word_error_rate(SENTENCE, results["text"]) <= 0.2, results["text"]
    srt = re.fullmatch(r"1\n(\d\d:\d\d:\d\d,\d{3}) --> (\d\d:\d\d:\d\d,\d{3})\n(.+?)\s*", results["srt"], re.S)
    assert srt, results["srt"]
    assert word_error_rate(SENTENCE, srt[3]) <= 0.2, srt[3]
    # verbose_json: the text, then segments and words as tables with times.
    words = transcript.get_by_role("table", name="Words")
    expect(words.get_by_role("columnheader")).to_have_text(["Start", "End", "Word"])
    rows = words.locator("tbody tr")
    assert rows.count() >= 7
    first = rows.first.locator("td").all_inner_texts()
    assert re.fullmatch(r"0:0\d\.\d\d", first[0]) and re.fullmatch(r"0:0\d\.\d\d", first[1]), first
    spoken = " ".join(row.locator("td").nth(2).inner_text() for row in rows.all())
    assert word_error_rate(SENTENCE, spoken) <= 0.2, spoken
    expect(transcript.get_by_role("table", name="Segments")).to_be_visible()
    playground.screenshot("Transcribe", "transcribe")


def test_record_the_microphone_then_transcribe_and_play_it_back(
    playground: PlaygroundPage, microphone_file: Path
) -> None:
    samples, rate = speech(MICROPHONE_TEXT)
    spoken_seconds = len(samples) / rate
    playground.open()
    section = playground.section("Transcribe")
    section.get_by_role("button", name="Record").click()
    stop = section.get_by_role("button", name="Stop")
    expect(stop).to_be_visible()
    expect(section.get_by_role("button", name="Transcribe")).to_be_disabled()
    playground.page.wait_for_function(  # until the whole file has played into the microphone
        "(s) => parseFloat(document.getElementById('transcribe-status').textContent.split(':')[1]) >= s",
        arg=spoken_seconds + 0.7,
    )
    stop.click()
    expect(section.get_by_role("status")).to_contain_text("Transcribed the recording")
    expect(section.get_by_role("alert")).to_be_hidden()
    expect(section.get_by_role("button", name="Record")).to_be_enabled()
    heard = section.get_by_role("region", name="Transcript").inner_text()
    assert word_error_rate(" ".join(MICROPHONE_TEXT), heard) <= 0.2, heard
    assert playground.audio_duration("#recording-audio") >= spoken_seconds  # plays back, whole
    playground.screenshot("Transcribe", "record")
    if SCREENSHOTS:
        playground.page.screenshot(path=str(Path(SCREENSHOTS) / "playground.png"), full_page=True)


def test_api_errors_show_in_an_alert_and_requests_can_be_cancelled(playground: PlaygroundPage, tmp_path: Path) -> None:
    playground.open()
    speak = playground.section("Speak")
    speak.get_by_label("Text").fill("")
    speak.get_by_role("button", name="Speak").click()
    expect(speak.get_by_role("alert")).to_contain_text("Invalid value for 'input'")  # the envelope's message
    expect(speak.get_by_role("link", name="Download")).to_be_hidden()

    transcribe = playground.section("Transcribe")
    transcribe.get_by_role("button", name="Transcribe").click()
    expect(transcribe.get_by_role("alert")).to_have_text("Choose an audio file first, or press Record.")
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(os.urandom(20_000))
    transcribe.get_by_label("Audio file").set_input_files(garbage)
    transcribe.get_by_role("button", name="Transcribe").click()
    alert = transcribe.get_by_role("alert")
    expect(alert).to_be_visible()
    message = httpx.post(
        f"{playground.origin}/v1/audio/transcriptions",
        data={"model": "whisper-1", "response_format": "json"},
        files={"file": ("garbage.wav", garbage.read_bytes())},
    ).json()["error"]["message"]
    expect(alert).to_have_text(message)

    # diarized_json needs HF_TOKEN on the server: its 503 message is shown, not swallowed.
    transcribe.get_by_label("Audio file").set_input_files(speech_file(SENTENCE, "wav"))
    transcribe.get_by_label("Response format").select_option("diarized_json")
    transcribe.get_by_role("button", name="Transcribe").click()
    expect(alert).to_contain_text("HF_TOKEN")

    # A long synthesis: Speak is disabled while it runs, Cancel stops it and nothing is reported as failed.
    speak.get_by_label("Text").fill(" ".join(SENTENCES * 12))
    speak.get_by_label("Format").select_option("flac")
    speak.get_by_role("button", name="Speak").click()
    expect(speak.get_by_role("button", name="Speak")).to_be_disabled()
    speak.get_by_role("button", name="Cancel").click()
    expect(speak.get_by_role("status")).to_have_text("Cancelled.")
    expect(speak.get_by_role("alert")).to_be_hidden()
    expect(speak.get_by_role("button", name="Speak")).to_be_enabled()
    expect(speak.get_by_role("button", name="Cancel")).to_be_disabled()


@pytest.fixture(scope="module")
def keyed_gateway(embedded_stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A second gateway with API_KEY, in front of the stack's own backends (with the secret the
    launcher made for them)."""
    asr = embedded_stack.process_on_port(embedded_stack.ports["asr"])
    env = {
        "API_KEY": KEY,
        "BACKEND_TOKEN": asr.environ()["BACKEND_TOKEN"],
        "ASR_BASE_URL": embedded_stack.service_url("asr"),
        "TTS_BASE_URL": embedded_stack.service_url("coqui-tts"),
    }
    with run_service("gateway", env, tmp_dir=tmp_path_factory.mktemp("keyed-gateway")) as server:
        yield server


def test_api_key_is_asked_once_and_kept_in_the_tab_only(browser: Browser, keyed_gateway: Server) -> None:
    with _open(browser, keyed_gateway.url) as playground:
        page = playground.page
        playground.open()
        key = page.get_by_label("API key")
        expect(key).to_be_visible()
        expect(playground.section("Speak").get_by_role("status")).to_contain_text("Enter the API key")
        key.fill("sk-wrong")
        page.get_by_role("button", name="Use key").click()
        expect(page.locator("#page-alert")).to_contain_text("Incorrect or missing API key")
        expect(key).to_be_visible()  # asked again

        key.fill(KEY)
        page.get_by_role("button", name="Use key").click()
        expect(key).to_be_hidden()
        expect(playground.section("Speak").get_by_label("Voice").locator("option")).not_to_have_count(0)
        assert page.evaluate("Object.entries(sessionStorage)") == [["speech-playground-api-key", KEY]]
        assert page.evaluate("localStorage.length") == 0
        assert page.context.cookies() == []

        page.reload()  # the same tab keeps it: no second prompt
        page.locator("body[data-ready]").wait_for()
        expect(key).to_be_hidden()
        speak = playground.section("Speak")
        speak.get_by_label("Text").fill("Hello.")
        speak.get_by_role("button", name="Speak").click()
        expect(speak.get_by_role("link", name="Download")).to_be_visible()

        other_tab = page.context.new_page()  # a new tab starts without it
        other_tab.goto(f"{keyed_gateway.url}/playground")
        other_tab.locator("body[data-ready]").wait_for()
        expect(other_tab.get_by_label("API key")).to_be_visible()


def test_live_transcribes_the_microphone_while_it_speaks(playground: PlaygroundPage) -> None:
    playground.open()
    live = playground.section("Live")
    playground.page.evaluate(  # remember whether a partial (delta) line was drawn before its final one
        """() => new MutationObserver(() => {
            if (document.querySelector('#live-transcript p.partial')?.textContent.trim()) window.sawDelta = true;
        }).observe(document.getElementById('live-transcript'), {subtree: true, childList: true, characterData: true})"""
    )
    live.get_by_role("button", name="Live").click()
    expect(live.get_by_role("button", name="Stop")).to_be_visible()
    transcript = live.get_by_role("region", name="Live transcript")
    playground.page.wait_for_function(
        "(n) => document.querySelectorAll('#live-transcript p.final').length >= 1 && "
        "document.querySelector('#live-transcript').innerText.split(/\\s+/).length >= n",
        arg=len(" ".join(MICROPHONE_TEXT).split()) - 3,
        timeout=2 * TIMEOUT_MS,  # turns queue behind other work for the ASR service's one inference slot
    )
    live.get_by_role("button", name="Stop").click()
    expect(live.get_by_role("button", name="Live")).to_be_visible()
    expect(live.get_by_role("alert")).to_be_hidden()
    assert word_error_rate(" ".join(MICROPHONE_TEXT), transcript.inner_text()) <= 0.25, transcript.inner_text()
    assert playground.page.evaluate("window.sawDelta === true"), "no delta was drawn before the final transcript"
    playground.screenshot("Live", "live")


def test_clone_says_when_the_engine_cannot_clone(playground: PlaygroundPage) -> None:
    """The quick start speaks with Piper, which cannot clone: the page says so instead of failing later."""
    playground.open()
    clone = playground.section("Clone a voice")
    expect(clone.locator("blockquote")).to_have_text(CONSENT_STATEMENT)
    expect(clone.get_by_text("cannot clone voices")).to_contain_text("TTS_ENGINE=coqui")
    expect(clone.get_by_role("button", name="Create voice")).to_be_disabled()
    expect(clone.get_by_role("button", name="Record consent")).to_be_disabled()


def test_clone_a_voice_then_speak_with_it(browser: Browser, coqui_stack: LocalStack) -> None:
    """On the tiny XTTS stack (Piper cannot clone): consent read aloud (espeak-ng) and a Piper sample."""
    with _open(browser, coqui_stack.url) as playground:
        playground.open()
        clone = playground.section("Clone a voice")
        expect(clone.locator("blockquote")).to_have_text(CONSENT_STATEMENT)
        expect(clone.get_by_label("Consent language")).to_have_value("en")
        clone.get_by_label("Consent recording").set_input_files(espeak_file(CONSENT_STATEMENT, "wav"))
        clone.get_by_label("Voice sample").set_input_files(speech_file(SENTENCES, "wav"))
        clone.get_by_label("Voice name").fill("Playground voice")
        clone.get_by_role("button", name="Create voice").click()
        expect(clone.get_by_role("status")).to_contain_text('Voice "Playground voice" created')
        expect(clone.get_by_role("alert")).to_be_hidden()
        speak = playground.section("Speak")
        voice = speak.get_by_label("Voice")
        assert voice.input_value().startswith("voice_")
        speak.get_by_label("Format").select_option("wav")
        speak.get_by_role("button", name="Speak").click()
        expect(speak.get_by_role("link", name="Download")).to_be_visible()
        expect(speak.get_by_role("alert")).to_be_hidden()
        assert playground.audio_duration("#speak-audio") > 0
        playground.screenshot("Clone a voice", "clone")
