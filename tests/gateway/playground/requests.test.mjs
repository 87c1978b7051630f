// What the page sends and how it reads answers: URLs, error envelopes, forms, session.update.
import assert from "node:assert/strict";
import { File } from "node:buffer"; // a global only from Node 20
import { test } from "node:test";

import { apiUrl, errorMessage, webSocketUrl } from "../../../gateway/playground/api.mjs";
import { consentForm, voiceForm } from "../../../gateway/playground/clone.mjs";
import { sessionUpdate, subprotocols } from "../../../gateway/playground/live.mjs";
import { extensionOf, recordingType } from "../../../gateway/playground/recorder.mjs";
import { customVoices, voiceGroups, voiceParam } from "../../../gateway/playground/speak.mjs";
import { transcriptTables, transcriptionForm } from "../../../gateway/playground/transcribe.mjs";
import { formatTime } from "../../../gateway/playground/ui.mjs";

test("errors show the envelope's message, else the body, else the status", () => {
  const envelope = JSON.stringify({ error: { message: "Invalid value for 'input'.", type: "invalid_request_error" } });
  assert.equal(errorMessage(400, envelope), "Invalid value for 'input'.");
  assert.equal(errorMessage(404, JSON.stringify({ detail: "Not Found" })), "Not Found");
  assert.equal(errorMessage(502, "Bad gateway from the proxy\n"), "HTTP 502: Bad gateway from the proxy");
  assert.equal(errorMessage(500, ""), "HTTP 500");
  assert.equal(errorMessage(500, JSON.stringify({ error: {} })), `HTTP 500: {"error":{}}`);
});

test("API URLs are relative to the page, so a proxy's sub-path is kept", () => {
  assert.equal(apiUrl("v1/audio/speech", "http://host:5000/playground").href, "http://host:5000/v1/audio/speech");
  assert.equal(apiUrl("v1/audio/speech", "https://example.org/speech/playground").href, "https://example.org/speech/v1/audio/speech");
  assert.equal(
    webSocketUrl("v1/realtime?intent=transcription", "http://127.0.0.1:5000/playground").href,
    "ws://127.0.0.1:5000/v1/realtime?intent=transcription",
  );
  assert.equal(webSocketUrl("v1/realtime", "https://example.org/speech/playground").href, "wss://example.org/speech/v1/realtime");
});

test("a transcription form has its fields before the file, and word times for verbose_json", () => {
  const file = new File([new Uint8Array(4)], "clip.webm", { type: "audio/webm" });
  const verbose = [...transcriptionForm(file, { format: "verbose_json", language: "en" }).entries()];
  assert.deepEqual(
    verbose.map(([name, value]) => [name, typeof value === "string" ? value : value.name]),
    [
      ["model", "whisper-1"],
      ["response_format", "verbose_json"],
      ["language", "en"],
      ["timestamp_granularities[]", "segment"],
      ["timestamp_granularities[]", "word"],
      ["file", "clip.webm"],
    ],
  );
  const plain = [...transcriptionForm(file, { format: "srt", language: "" }).keys()];
  assert.deepEqual(plain, ["model", "response_format", "file"]);
});

test("verbose_json and diarized_json become timed tables", () => {
  const verbose = {
    text: "Hello there.",
    segments: [{ start: 0.031, end: 1.5, text: " Hello there." }],
    words: [
      { word: "Hello", start: 0.031, end: 0.6 },
      { word: "there.", start: 0.6, end: 1.5 },
    ],
  };
  assert.deepEqual(transcriptTables("verbose_json", verbose), [
    ["Segments", ["Start", "End", "Text"], [["0:00.03", "0:01.50", "Hello there."]]],
    ["Words", ["Start", "End", "Word"], [["0:00.03", "0:00.60", "Hello"], ["0:00.60", "0:01.50", "there."]]],
  ]);
  const diarized = { segments: [{ speaker: "A", start: 61, end: 62.5, text: "Hi." }] };
  assert.deepEqual(transcriptTables("diarized_json", diarized), [
    ["Segments", ["Speaker", "Start", "End", "Text"], [["A", "1:01.00", "1:02.50", "Hi."]]],
  ]);
  assert.deepEqual(transcriptTables("json", { text: "x" }), []);
  assert.equal(formatTime(59.999), "1:00.00");
});

test("the Voice list groups custom, OpenAI and built-in voices; custom ones are sent by id", () => {
  const listing = {
    builtin: ["joe"],
    openai: { alloy: "joe", ash: null },
    custom: [{ id: "voice_123", name: "Mine" }, { name: "no id" }],
  };
  assert.deepEqual(customVoices(listing), [{ id: "voice_123", name: "Mine" }]);
  assert.deepEqual(voiceGroups(listing), [
    ["Custom voices", [["voice_123", "Mine (voice_123)", true]]],
    ["OpenAI voices", [["alloy", "alloy (joe)"], ["ash", "ash"]]],
    ["Built-in speakers", [["joe", "joe"]]],
  ]);
  assert.deepEqual(voiceGroups({ builtin: [], openai: {} }), []);
  assert.deepEqual(voiceParam({ value: "voice_123", dataset: { custom: "true" } }), { id: "voice_123" });
  assert.equal(voiceParam({ value: "alloy", dataset: {} }), "alloy");
});

test("custom voice forms carry the fields the API names", () => {
  const clip = new File([new Uint8Array(2)], "consent.ogg", { type: "audio/ogg" });
  assert.deepEqual([...consentForm("Mine", "en", clip).keys()], ["name", "language", "recording"]);
  const voice = [...voiceForm("Mine", "cons_1", clip).entries()].map(([k, v]) => [k, typeof v === "string" ? v : v.name]);
  assert.deepEqual(voice, [["name", "Mine"], ["consent", "cons_1"], ["audio_sample", "consent.ogg"]]);
});

test("Live configures a transcription session for 24 kHz PCM with server VAD", () => {
  assert.deepEqual(sessionUpdate(), {
    type: "session.update",
    session: {
      type: "transcription",
      audio: {
        input: {
          format: { type: "audio/pcm", rate: 24000 },
          transcription: { model: "whisper-1" },
          turn_detection: { type: "server_vad" },
        },
      },
    },
  });
  assert.equal(sessionUpdate("de").session.audio.input.transcription.language, "de");
  assert.deepEqual(subprotocols(null), []);
  assert.deepEqual(subprotocols("sk-1"), ["realtime", "openai-insecure-api-key.sk-1"]);
});

test("recordings prefer Ogg (its duration is known), then WebM", () => {
  const firefox = () => true;
  const chromium = (type) => type.startsWith("audio/webm");
  assert.equal(recordingType(firefox), "audio/ogg;codecs=opus");
  assert.equal(recordingType(chromium), "audio/webm;codecs=opus");
  assert.equal(recordingType(() => false), "");
  assert.equal(extensionOf("audio/webm;codecs=opus"), "webm");
  assert.equal(extensionOf("audio/ogg"), "ogg");
  assert.equal(extensionOf("audio/mpeg"), "mp3");
  assert.equal(extensionOf(""), "webm");
});
