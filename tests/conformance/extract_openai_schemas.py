"""Extract the OpenAI schemas our responses are checked against from OpenAI's published OpenAPI file.

    python tests/conformance/extract_openai_schemas.py PATH/TO/openapi.json --commit SHA

``PATH/TO/openapi.json`` is the file ``openapi.json`` of the repository openai/openai-openapi at
commit ``SHA`` (recorded in the output's ``_source``). Writes ``openai_schemas.json`` next to this
script: the schemas named in ``ROOTS`` and everything they ``$ref``, under ``components/schemas``
as in the spec, so every ``$ref`` stays resolvable. The spec's documentation extension
``x-oaiMeta`` (examples) is dropped. Run by hand when updating to a newer spec; not run in CI.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).with_name("openai_schemas.json")
REPOSITORY = "https://github.com/openai/openai-openapi"
REF_PREFIX = "#/components/schemas/"

ROOTS: dict[str, list[str]] = {
    "transcription": [
        "CreateTranscriptionResponseJson",
        "CreateTranscriptionResponseVerboseJson",
        "CreateTranscriptionResponseDiarizedJson",
        "TranscriptionSegment",
        "TranscriptionWord",
        "TranscriptionDiarizedSegment",
        "TranscriptTextUsageDuration",
        "TranscriptTextUsageTokens",
        "CreateTranscriptionResponseStreamEvent",
        "TranscriptTextDeltaEvent",
        "TranscriptTextDoneEvent",
        "TranscriptTextSegmentEvent",
    ],
    "translation": ["CreateTranslationResponseJson", "CreateTranslationResponseVerboseJson"],
    "speech": ["SpeechAudioDeltaEvent", "SpeechAudioDoneEvent"],
    "models": ["ListModelsResponse", "Model"],
    "errors": ["ErrorResponse", "Error"],
    "voices": [
        "VoiceResource",
        "VoiceConsentResource",
        "VoiceConsentListResource",
        "VoiceConsentDeletedResource",
        "CreateVoiceRequest",
        "CreateVoiceConsentRequest",
        "UpdateVoiceConsentRequest",
    ],
    "realtime": [
        "RealtimeClientEventSessionUpdate",
        "RealtimeClientEventTranscriptionSessionUpdate",
        "RealtimeClientEventInputAudioBufferAppend",
        "RealtimeClientEventInputAudioBufferCommit",
        "RealtimeClientEventInputAudioBufferClear",
        "RealtimeServerEventSessionCreated",
        "RealtimeServerEventSessionUpdated",
        "RealtimeServerEventTranscriptionSessionUpdated",
        "RealtimeServerEventInputAudioBufferCommitted",
        "RealtimeServerEventInputAudioBufferCleared",
        "RealtimeServerEventInputAudioBufferSpeechStarted",
        "RealtimeServerEventInputAudioBufferSpeechStopped",
        "RealtimeServerEventInputAudioBufferTimeoutTriggered",
        "RealtimeServerEventConversationItemInputAudioTranscriptionDelta",
        "RealtimeServerEventConversationItemInputAudioTranscriptionCompleted",
        "RealtimeServerEventConversationItemInputAudioTranscriptionFailed",
        "RealtimeServerEventConversationItemInputAudioTranscriptionSegment",
        "RealtimeServerEventError",
        # The beta protocol (header OpenAI-Beta: realtime=v1), which older clients still speak.
        "RealtimeBetaClientEventSessionUpdate",
        "RealtimeBetaClientEventTranscriptionSessionUpdate",
        "RealtimeBetaClientEventInputAudioBufferAppend",
        "RealtimeBetaClientEventInputAudioBufferCommit",
        "RealtimeBetaClientEventInputAudioBufferClear",
        "RealtimeBetaServerEventSessionCreated",
        "RealtimeBetaServerEventSessionUpdated",
        "RealtimeBetaServerEventTranscriptionSessionCreated",
        "RealtimeBetaServerEventTranscriptionSessionUpdated",
        "RealtimeBetaServerEventInputAudioBufferCommitted",
        "RealtimeBetaServerEventInputAudioBufferCleared",
        "RealtimeBetaServerEventInputAudioBufferSpeechStarted",
        "RealtimeBetaServerEventInputAudioBufferSpeechStopped",
        "RealtimeBetaServerEventConversationItemInputAudioTranscriptionDelta",
        "RealtimeBetaServerEventConversationItemInputAudioTranscriptionCompleted",
        "RealtimeBetaServerEventConversationItemInputAudioTranscriptionFailed",
        "RealtimeBetaServerEventConversationItemInputAudioTranscriptionSegment",
        "RealtimeBetaServerEventError",
    ],
}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                if not value.startswith(REF_PREFIX):
                    raise ValueError(f"unexpected $ref outside the component schemas: {value}")
                yield value.removeprefix(REF_PREFIX)
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _without_docs(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _without_docs(value) for key, value in node.items() if key != "x-oaiMeta"}
    if isinstance(node, list):
        return [_without_docs(item) for item in node]
    return node


def extract(spec: dict[str, Any], commit: str, file: str) -> dict[str, Any]:
    schemas = spec["components"]["schemas"]
    wanted = [name for names in ROOTS.values() for name in names]
    missing = [name for name in wanted if name not in schemas]
    if missing:
        raise KeyError(f"not in this spec: {', '.join(missing)}")
    closure: dict[str, Any] = {}
    pending = list(wanted)
    while pending:
        name = pending.pop()
        if name not in closure:
            closure[name] = _without_docs(schemas[name])
            pending.extend(_refs(closure[name]))
    return {
        "_source": {
            "repository": REPOSITORY,
            "commit": commit,
            "file": file,
            "openapi": spec["openapi"],
            "info_version": spec["info"]["version"],
            "extracted_by": "tests/conformance/extract_openai_schemas.py",
        },
        "roots": ROOTS,
        "components": {"schemas": dict(sorted(closure.items()))},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", type=Path, help="path of a local copy of openapi.json")
    parser.add_argument("--commit", required=True, help="the openai/openai-openapi commit the file comes from")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    document = extract(json.loads(args.spec.read_text()), args.commit, args.spec.name)
    args.output.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    print(f"{args.output}: {len(document['components']['schemas'])} schemas")


if __name__ == "__main__":
    main()
