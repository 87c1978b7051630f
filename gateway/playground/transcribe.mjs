// Transcribe: POST /v1/audio/transcriptions with a chosen file or a microphone recording; the
// result is shown in the "Transcript" region (timed results as tables).

import { extensionOf, recordButton } from "./recorder.mjs";
import { Feedback, formatTime, runCancellable, setObjectUrl } from "./ui.mjs";

const JSON_FORMATS = new Set(["json", "verbose_json", "diarized_json"]);
const MAX_RECORDING_SECONDS = 600;

/** The multipart form for a transcription; the fields come before the file so the server can stream it. */
export function transcriptionForm(file, { format, language }) {
  const form = new FormData();
  form.append("model", "whisper-1");
  form.append("response_format", format);
  if (language) form.append("language", language);
  if (format === "verbose_json") {
    form.append("timestamp_granularities[]", "segment");
    form.append("timestamp_granularities[]", "word");
  }
  form.append("file", file, file.name);
  return form;
}

/** Rows of a timed table: [caption, column names, rows of cells]. */
export function transcriptTables(format, body) {
  const tables = [];
  const segments = Array.isArray(body?.segments) ? body.segments : [];
  if (format === "diarized_json" && segments.length) {
    tables.push([
      "Segments",
      ["Speaker", "Start", "End", "Text"],
      segments.map((s) => [s.speaker ?? "", formatTime(s.start), formatTime(s.end), s.text ?? ""]),
    ]);
  } else if (segments.length) {
    tables.push([
      "Segments",
      ["Start", "End", "Text"],
      segments.map((s) => [formatTime(s.start), formatTime(s.end), (s.text ?? "").trim()]),
    ]);
  }
  if (Array.isArray(body?.words) && body.words.length) {
    tables.push(["Words", ["Start", "End", "Word"], body.words.map((w) => [formatTime(w.start), formatTime(w.end), w.word])]);
  }
  return tables;
}

function table([caption, columns, rows]) {
  const element = document.createElement("table");
  element.createCaption().textContent = caption;
  const head = element.createTHead().insertRow();
  for (const column of columns) {
    const cell = document.createElement("th");
    cell.scope = "col";
    cell.textContent = column;
    head.append(cell);
  }
  const tbody = element.createTBody();
  for (const row of rows) {
    const tr = tbody.insertRow();
    for (const value of row) tr.insertCell().textContent = value;
  }
  return element;
}

function render(region, format, result) {
  if (!JSON_FORMATS.has(format)) {
    const pre = document.createElement("pre");
    pre.textContent = result;
    region.replaceChildren(pre);
    return;
  }
  const text = document.createElement("p");
  text.textContent = result.text ?? "";
  region.replaceChildren(text, ...transcriptTables(format, result).map(table));
}

export function setupTranscribe(api) {
  const $ = (id) => document.getElementById(id);
  const file = $("transcribe-file");
  const format = $("transcribe-format");
  const language = $("transcribe-language");
  const button = $("transcribe-button");
  const record = $("record-button");
  const cancel = $("transcribe-cancel");
  const region = $("transcript");
  const recording = $("recording-audio");
  const feedback = new Feedback($("transcribe-alert"), $("transcribe-status"));

  // Chromium's MediaRecorder writes WebM without a duration (Chromium bug 642012), so the player
  // would show an endless recording: seeking past the end makes it find the real one.
  recording.addEventListener("loadedmetadata", () => {
    if (recording.duration !== Infinity) return;
    recording.addEventListener("durationchange", () => (recording.currentTime = 0), { once: true });
    recording.currentTime = Number.MAX_SAFE_INTEGER;
  });

  function transcribe(upload, what) {
    return runCancellable({ buttons: [button, record], cancel, feedback }, async (signal) => {
      feedback.clear();
      region.replaceChildren();
      const chosen = format.value;
      feedback.status(`Transcribing ${what}…`);
      const started = performance.now();
      const form = transcriptionForm(upload, { format: chosen, language: language.value.trim() });
      const response = await api.request("v1/audio/transcriptions", { method: "POST", form, signal });
      render(region, chosen, JSON_FORMATS.has(chosen) ? await response.json() : await response.text());
      feedback.status(`Transcribed ${what} in ${((performance.now() - started) / 1000).toFixed(1)} s.`);
    });
  }

  $("transcribe-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) {
      feedback.clear();
      feedback.error("Choose an audio file first, or press Record.");
      return;
    }
    transcribe(chosen, chosen.name);
  });

  recordButton(record, {
    maxSeconds: MAX_RECORDING_SECONDS,
    feedback,
    onStart: () => {
      button.disabled = true;
    },
    onStop: () => {
      button.disabled = false;
    },
    onRecorded: async (blob) => {
      setObjectUrl(recording, "src", blob);
      $("recording-result").hidden = false;
      const upload = new File([blob], `recording.${extensionOf(blob.type)}`, { type: blob.type });
      await transcribe(upload, "the recording");
    },
  });
}
