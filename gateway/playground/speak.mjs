// Speak: POST /v1/audio/speech, played in an <audio> element (while streaming where the browser can),
// with a Download link to exactly the bytes the API returned.

import { CONTENT_TYPES, MediaSourcePlayer, streamedFormats, streamingType, wavFromPcm16 } from "./playback.mjs";
import { Feedback, runCancellable, setObjectUrl } from "./ui.mjs";

const canStream = (type) => "MediaSource" in window && MediaSource.isTypeSupported(type);

/** Custom voices in a GET /v1/audio/voices listing: objects with an id (and a name). */
export function customVoices(listing) {
  const custom = Array.isArray(listing?.custom) ? listing.custom : [];
  return custom.filter((voice) => typeof voice?.id === "string");
}

/** The option groups for the Voice combobox: [label, [[value, text, custom?], ...]]. */
export function voiceGroups(listing) {
  const openai = Object.entries(listing?.openai ?? {}).map(([name, speaker]) => [
    name,
    speaker ? `${name} (${speaker})` : name,
  ]);
  const builtin = (listing?.builtin ?? []).map((name) => [name, name]);
  const custom = customVoices(listing).map((voice) => [voice.id, `${voice.name ?? voice.id} (${voice.id})`, true]);
  return [
    ["Custom voices", custom],
    ["OpenAI voices", openai],
    ["Built-in speakers", builtin],
  ].filter(([, options]) => options.length);
}

/** The request's `voice`: a name, or {"id": …} for a custom voice. */
export function voiceParam(option) {
  return option.dataset.custom ? { id: option.value } : option.value;
}

async function readAll(response, onChunk) {
  const chunks = [];
  let received = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { chunks, received };
    chunks.push(value);
    received += value.byteLength;
    await onChunk(value, received);
  }
}

function kilobytes(bytes) {
  return `${(bytes / 1024).toFixed(1)} kB`;
}

export function setupSpeak(api) {
  const $ = (id) => document.getElementById(id);
  const form = $("speak-form");
  const text = $("speak-text");
  const voice = $("speak-voice");
  const format = $("speak-format");
  const speed = $("speak-speed");
  const speedValue = $("speak-speed-value");
  const button = $("speak-button");
  const cancel = $("speak-cancel");
  const audio = $("speak-audio");
  const download = $("speak-download");
  const feedback = new Feedback($("speak-alert"), $("speak-status"));

  const streamed = streamedFormats(canStream);
  $("speak-formats").textContent =
    `In this browser ${streamed.length ? streamed.join(" and ") : "no format"} ` +
    `${streamed.length > 1 ? "play while they stream" : "plays while it streams"}; ` +
    "the other formats play once complete. pcm is raw 24 kHz 16-bit mono: the page wraps it in a WAV header " +
    "to play it, and Download gives the raw bytes.";

  speed.addEventListener("input", () => {
    speedValue.textContent = `${Number(speed.value).toFixed(2)}×`;
  });

  let playing = null; // the format being played, for the error message
  audio.addEventListener("error", () => {
    if (playing && audio.error && audio.error.code !== MediaError.MEDIA_ERR_ABORTED) {
      feedback.error(`The ${playing} audio could not be played here (${audio.error.message || "media error"}); use Download.`);
    }
  });

  const play = () =>
    audio.play().catch((error) => {
      if (error.name === "NotAllowedError") feedback.status(`${feedback.statusElement.textContent} Press play to listen.`);
    });

  async function speak(signal) {
    feedback.clear();
    download.hidden = true;
    setObjectUrl(download, "href", null);
    playing = null;
    const chosen = format.value;
    const type = streamingType(chosen, canStream);
    const body = {
      model: "tts-1",
      input: text.value,
      voice: voice.selectedOptions[0] ? voiceParam(voice.selectedOptions[0]) : "alloy",
      response_format: chosen,
      speed: Number(speed.value),
      // Formats played from a Blob ask for one complete file: its headers then carry the length.
      stream: Boolean(type),
    };
    feedback.status("Synthesizing…");
    const response = await api.request("v1/audio/speech", { method: "POST", json: body, signal });
    setObjectUrl(audio, "src", null);
    playing = chosen;
    const player = type ? await MediaSourcePlayer.open(audio, type) : null;
    const { chunks, received } = await readAll(response, async (chunk, total) => {
      feedback.status(`Receiving ${chosen}: ${kilobytes(total)}…`);
      if (player) {
        await player.append(chunk, signal);
        if (audio.paused && total === chunk.byteLength) play();
      }
    });
    const file = new Blob(chunks, { type: CONTENT_TYPES[chosen] });
    if (player) {
      await player.end();
    } else {
      const playable = chosen === "pcm" ? new Blob([wavFromPcm16(new Uint8Array(await file.arrayBuffer()))], { type: "audio/wav" }) : file;
      setObjectUrl(audio, "src", playable);
    }
    feedback.status(`${kilobytes(received)} of ${chosen}, ${player ? "played while it streamed" : "played once complete"}.`);
    if (!player) play();
    setObjectUrl(download, "href", file);
    download.download = `speech.${chosen}`;
    download.hidden = false;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    runCancellable({ buttons: [button], cancel, feedback }, speak);
  });

  /** (Re)fill the Voice combobox from GET /v1/audio/voices, keeping or making a selection. */
  async function loadVoices(select = voice.value) {
    const listing = await api.json("v1/audio/voices");
    voice.replaceChildren(
      ...voiceGroups(listing).map(([label, options]) => {
        const group = document.createElement("optgroup");
        group.label = label;
        for (const [value, name, custom] of options) {
          const option = new Option(name, value);
          if (custom) option.dataset.custom = "true";
          group.append(option);
        }
        return group;
      }),
    );
    const wanted = [select, "alloy"].find((value) => [...voice.options].some((o) => o.value === value));
    if (wanted) voice.value = wanted;
    voice.title = listing.note ?? "";
    return listing;
  }

  return { feedback, loadVoices };
}
