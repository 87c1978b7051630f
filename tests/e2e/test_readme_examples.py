"""The README's examples, run as written against the local stack (only the host:port is changed).

The curl commands run on both configurations: on the quick start (Piper + tiny.en) they must give
intelligible speech and a correct transcript (issue 9's "done when"); with the tiny XTTS checkpoint
the speech is noise, so there only its format is checked. The custom-voice flow, curl and SDK, runs
on the XTTS stack, each command with the ids the previous ones answered. The other SDK snippets run
on the quick start.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.conformance.schemas import validate
from fixtures.realtime import pcm16, utterance
from fixtures.servers import REPO
from fixtures.speech import SENTENCE, SENTENCES, espeak_file, speech_file
from fixtures.stack import LocalStack
from fixtures.wer import word_error_rate
from gateway.consent import STATEMENTS
from tests.e2e.checks import assert_audio

README = REPO / "README.md"
LOCAL_URL = re.compile(r"https?://(?:localhost|127\.0\.0\.1):\d+")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
HTTP_CODE = "\n[http %{http_code}]"


@dataclass(frozen=True)
class CurlExample:
    command: str

    @property
    def args(self) -> list[str]:
        return shlex.split(self.command)

    @property
    def route(self) -> str:
        return next(a for a in self.args if LOCAL_URL.match(a)).split("/", 3)[3]

    @property
    def method(self) -> str:
        args = self.args
        if "-X" in args:
            return args[args.index("-X") + 1]
        return "POST" if {"-F", "-d"} & set(args) else "GET"

    @property
    def uploads(self) -> list[str]:
        return [m for a in self.args for m in re.findall(r"=@([^;\s]+)", a)]

    @property
    def output(self) -> str | None:
        args = self.args
        for flag in ("--output", "-o"):
            if flag in args:
                return args[args.index(flag) + 1]
        return None

    @property
    def json_body(self) -> dict:
        args = self.args
        for flag in ("-d", "--data", "--data-raw"):
            if flag in args:
                return json.loads(args[args.index(flag) + 1])
        return {}


def code_blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(README.read_text()) if lang == language]


def is_voice_flow(block: str) -> bool:
    return "/v1/audio/voice_consents" in block


def curl_commands(block: str) -> list[CurlExample]:
    """The curl commands of a shell block, continuation lines and quoted JSON included."""
    commands: list[str] = []
    pending: list[str] = []
    for line in block.splitlines():
        if not pending and not line.lstrip().startswith("curl "):
            continue
        pending.append(line)
        text = "\n".join(pending)
        try:
            shlex.split(text)
        except ValueError:  # inside a quoted string that spans lines
            continue
        if not line.endswith("\\"):
            commands.append(text)
            pending = []
    return [CurlExample(c) for c in commands]


def curl_examples() -> list[CurlExample]:
    """Every curl command in the README's shell blocks but the custom-voice flow (tested on its own)."""
    return [example for block in code_blocks("bash") if not is_voice_flow(block) for example in curl_commands(block)]


EXAMPLES = curl_examples()


def test_readme_has_both_curl_examples() -> None:
    assert sorted(e.route for e in EXAMPLES) == ["v1/audio/speech", "v1/audio/transcriptions"]


def run_curl(example: CurlExample, stack: LocalStack, workdir: Path) -> str:
    """Run the command as written (plus curl's own progress/status options) in ``workdir``."""
    command = LOCAL_URL.sub(stack.url, example.command) + f" --silent --show-error --write-out '{HTTP_CODE}'"
    result = subprocess.run(["bash", "-c", command], cwd=workdir, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    body, _, status = result.stdout.rpartition("\n")
    assert status == "[http 200]", f"{status}: {body}"
    return body


@pytest.mark.parametrize("stack_name", ["coqui_stack", "embedded_stack"])
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.route.rsplit("/", 1)[-1])
def test_readme_curl_example(
    example: CurlExample, stack_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    stack: LocalStack = request.getfixturevalue(stack_name)
    for upload in example.uploads:  # the user's own recording: real speech in the named container
        shutil.copy(speech_file(SENTENCE, Path(upload).suffix.lstrip(".")), tmp_path / upload)
    body = run_curl(example, stack, tmp_path)

    if example.route == "v1/audio/transcriptions":
        assert word_error_rate(SENTENCE, json.loads(body)["text"]) == 0, body
        return
    assert example.output, "the speech example saves the audio"
    audio = (tmp_path / example.output).read_bytes()
    assert_audio(audio, example.json_body.get("response_format", "mp3"))
    if stack_name == "embedded_stack":  # a real voice: what it says must come back from the ASR
        (tmp_path / "heard.wav").write_bytes(audio)
        heard = run_curl(
            CurlExample(f'curl "{stack.url}/v1/audio/transcriptions" -F file=@heard.wav -F model=whisper-1'),
            stack,
            tmp_path,
        )
        assert word_error_rate(example.json_body["input"], json.loads(heard)["text"]) <= 0.2, heard


def python_example(marker: str) -> str:
    """The README's Python block that contains ``marker``, as a script: the blocks after the first
    use the first one's ``client``, so its lines up to that assignment go in front of them."""
    blocks = code_blocks("python")
    (block,) = [body for body in blocks if marker in body]
    if "client = " not in block:
        first = blocks[0]
        block = first[: first.index("\n", first.index("client = ")) + 1] + "\n" + block
    return block


def run_python(snippet: str, stack: LocalStack, workdir: Path) -> list[str]:
    """Run the snippet unchanged but for the port, in ``workdir``; the lines it printed."""
    script = workdir / "example.py"
    script.write_text(LOCAL_URL.sub(stack.url, snippet))
    result = subprocess.run([sys.executable, str(script)], cwd=workdir, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


def test_readme_transcription_sdk_example(embedded_stack: LocalStack, tmp_path: Path) -> None:
    """The README's OpenAI SDK transcription snippet lists the models, prints the transcript and
    the words with their times."""
    shutil.copy(speech_file(SENTENCE, "wav"), tmp_path / "audio.wav")
    models, text, timed_words = run_python(python_example("client.audio.transcriptions"), embedded_stack, tmp_path)
    assert "whisper-1" in models and word_error_rate(SENTENCE, text) == 0
    timed = ast.literal_eval(timed_words)  # [(word, start, end), ...]
    assert word_error_rate(SENTENCE, " ".join(word for word, _, _ in timed)) == 0
    assert all(start <= end for _, start, end in timed) and [t[1] for t in timed] == sorted(t[1] for t in timed)


def test_readme_speech_sdk_example(embedded_stack: LocalStack, tmp_path: Path) -> None:
    """The README's streamed speech snippet saves an mp3 that says what it was asked to."""
    snippet = python_example("client.audio.speech.with_streaming_response")
    assert run_python(snippet, embedded_stack, tmp_path) == []
    audio = (tmp_path / "hello.mp3").read_bytes()
    assert_audio(audio, "mp3")
    (tmp_path / "heard.mp3").write_bytes(audio)
    heard = run_curl(
        CurlExample(f'curl "{embedded_stack.url}/v1/audio/transcriptions" -F model=whisper-1 -F file=@heard.mp3'),
        embedded_stack,
        tmp_path,
    )
    assert word_error_rate("Hello there!", json.loads(heard)["text"]) == 0, heard


def test_readme_custom_voice_sdk_example(coqui_stack: LocalStack, tmp_path: Path) -> None:
    """The README's custom-voice snippet: a consent (espeak-ng reading the statement, checked by
    tiny.en), a voice from a Piper sample, speech with it, and the consent withdrawn, which takes
    the voice with it."""
    shutil.copy(espeak_file(STATEMENTS["en"], "wav"), tmp_path / "consent.wav")
    shutil.copy(speech_file(SENTENCES[:2], "wav"), tmp_path / "sample.wav")
    (printed,) = run_python(python_example("client.audio.voice_consents"), coqui_stack, tmp_path)
    consent_id, voice_id = printed.split()
    assert re.fullmatch(r"cons_\w+", consent_id) and re.fullmatch(r"voice_\w+", voice_id), printed
    assert_audio((tmp_path / "cloned.mp3").read_bytes(), "mp3")
    voices = httpx.get(f"{coqui_stack.url}/v1/audio/voices", timeout=30).json()
    assert voice_id not in [voice["id"] for voice in voices["custom"]]
    assert httpx.get(f"{coqui_stack.url}/v1/audio/voice_consents/{consent_id}", timeout=30).status_code == 404


VOICE_FLOW = [example for block in code_blocks("bash") if is_voice_flow(block) for example in curl_commands(block)]


def test_readme_custom_voice_flow(coqui_stack: LocalStack, tmp_path: Path) -> None:
    """The README's custom-voice commands in order: the consent read by espeak-ng (checked by
    tiny.en), the sample spoken by Piper, the ids ``cons_1234`` and ``voice_1234`` replaced by
    the ones the commands before answered, every answer validated against OpenAI's schemas."""
    assert [f"{e.method} {e.route}" for e in VOICE_FLOW] == [
        "POST v1/audio/voice_consents",
        "POST v1/audio/voices",
        "POST v1/audio/speech",
        "GET v1/audio/voices",
        "GET v1/audio/voice_consents",
        "DELETE v1/audio/voices/voice_1234",
        "DELETE v1/audio/voice_consents/cons_1234",
    ]
    shutil.copy(espeak_file(STATEMENTS["en"], "wav"), tmp_path / "consent.wav")
    shutil.copy(speech_file(SENTENCES[:2], "wav"), tmp_path / "sample.wav")
    ids: dict[str, str] = {}
    answers: dict[str, Any] = {}
    for example in VOICE_FLOW:
        command = example.command
        for placeholder, real in ids.items():
            command = command.replace(placeholder, real)
        body = run_curl(CurlExample(command), coqui_stack, tmp_path)
        answers[f"{example.method} {example.route}"] = None if example.output else json.loads(body)
        if example.route == "v1/audio/voice_consents" and example.method == "POST":
            ids["cons_1234"] = answers["POST v1/audio/voice_consents"]["id"]
        if example.route == "v1/audio/voices" and example.method == "POST":
            ids["voice_1234"] = answers["POST v1/audio/voices"]["id"]

    validate("VoiceConsentResource", answers["POST v1/audio/voice_consents"])
    validate("VoiceResource", answers["POST v1/audio/voices"])
    assert_audio((tmp_path / "cloned.wav").read_bytes(), "wav")
    assert answers["POST v1/audio/voices"] in answers["GET v1/audio/voices"]["custom"]
    listed = answers["GET v1/audio/voice_consents"]
    validate("VoiceConsentListResource", listed)
    assert answers["POST v1/audio/voice_consents"] in listed["data"]
    assert answers["DELETE v1/audio/voices/voice_1234"] == {
        "id": ids["voice_1234"], "object": "audio.voice.deleted", "deleted": True
    }  # fmt: skip
    validate("VoiceConsentDeletedResource", answers["DELETE v1/audio/voice_consents/cons_1234"])


def test_readme_realtime_example(embedded_stack: LocalStack, tmp_path: Path) -> None:
    """The README's live transcription snippet (the SDK's realtime client) runs unchanged but for the
    port: it streams audio.pcm at speaking pace and prints the words, then each turn's transcript."""
    (snippet,) = [block for block in code_blocks("python") if "client.realtime" in block]
    samples, rate = utterance(SENTENCES[:2], before=0.5, after=0.5)  # two turns: a 0.6 s pause ends the first
    (tmp_path / "audio.pcm").write_bytes(pcm16(samples, rate))
    script = tmp_path / "realtime_example.py"
    script.write_text(LOCAL_URL.sub(embedded_stack.url, snippet))
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "error:" not in result.stdout, result.stdout
    turns = re.findall(r"^\[turn (\d)\] (.*)$", result.stdout, re.M)
    assert [number for number, _ in turns] == ["1", "2"], result.stdout
    for (_, transcript), sentence in zip(turns, SENTENCES[:2], strict=True):
        assert word_error_rate(sentence, transcript) <= 0.15, result.stdout
        assert f"{transcript}\n[turn" in result.stdout  # the deltas, printed as they came, said the same
