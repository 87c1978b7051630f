// Live: the microphone streamed to /v1/realtime?intent=transcription (OpenAI Realtime transcription
// session, server VAD). Deltas are drawn per item as they come; "completed" replaces them. The page
// never puts the API key on the WebSocket: it mints a short-lived client secret (ek_...) bound to the
// session's configuration (POST /v1/realtime/client_secrets) and opens the socket with that.

import { webSocketUrl } from "./api.mjs";
import { base64 } from "./pcm.mjs";
import { openMicrophone } from "./recorder.mjs";
import { Feedback, formatTime } from "./ui.mjs";

export const REALTIME_RATE = 24000; // audio/pcm in the Realtime API: 16-bit mono at 24 kHz
const CHUNK_SECONDS = 0.1;
// Audio queued in the socket beyond this (about 15 s of base64 PCM) means the connection cannot
// keep up: stop rather than let the queue grow without bound.
const MAX_QUEUED_BYTES = 1 << 20;
const MAX_ITEMS = 200; // transcript paragraphs kept on the page
const FINISH_TIMEOUT_MS = 15000;

/** The session.update that configures a transcription session for our audio. */
export function sessionUpdate(language) {
  const transcription = { model: "whisper-1" };
  if (language) transcription.language = language;
  return {
    type: "session.update",
    session: {
      type: "transcription",
      audio: {
        input: {
          format: { type: "audio/pcm", rate: REALTIME_RATE },
          transcription,
          turn_detection: { type: "server_vad" },
        },
      },
    },
  };
}

/** Browsers cannot set headers on a WebSocket: the secret travels as a subprotocol, as OpenAI's browser clients send it. */
export function subprotocols(secret) {
  return secret ? ["realtime", `openai-insecure-api-key.${secret}`] : [];
}

const SECRET_SECONDS = 60; // it only has to open this one socket, right away

/** The transcript region: one paragraph per item, partial until its "completed" arrives. */
export class LiveTranscript {
  constructor(region) {
    this.region = region;
    this.items = new Map();
  }

  item(id) {
    let paragraph = this.items.get(id);
    if (!paragraph) {
      paragraph = document.createElement("p");
      paragraph.className = "partial";
      this.region.append(paragraph);
      this.items.set(id, paragraph);
      if (this.items.size > MAX_ITEMS) {
        const [oldest] = this.items.keys();
        this.items.get(oldest).remove();
        this.items.delete(oldest);
      }
    }
    return paragraph;
  }

  delta(id, text) {
    this.item(id).textContent += text;
  }

  completed(id, transcript) {
    const paragraph = this.item(id);
    if (!transcript.trim()) {
      paragraph.remove(); // a turn with nothing said
      this.items.delete(id);
      return;
    }
    paragraph.textContent = transcript;
    paragraph.className = "final";
  }

  failed(id, message) {
    const paragraph = this.item(id);
    paragraph.textContent = `(not transcribed: ${message})`;
    paragraph.className = "failed";
  }
}

class LiveSession {
  constructor(api, transcript, feedback, streamed, onEnded) {
    this.api = api;
    this.streamed = streamed; // shows how much audio has been sent
    this.sentSamples = 0;
    this.transcript = transcript;
    this.feedback = feedback;
    this.onEnded = onEnded;
    this.speaking = null; // item id of the turn being spoken
    this.pending = new Set(); // turns whose final transcript has not arrived
    this.closing = false;
  }

  async start() {
    // In the click itself, so the browser lets it run; at the device's own rate (the worklet resamples).
    this.context = new AudioContext();
    await this.context.audioWorklet.addModule(new URL("pcm-worklet.mjs", import.meta.url));
    const secret = await this.api.json("v1/realtime/client_secrets", {
      method: "POST",
      json: { expires_after: { anchor: "created_at", seconds: SECRET_SECONDS }, session: sessionUpdate().session },
    });
    this.socket = await this.connect(secret.value); // the session starts configured
    this.node = new AudioWorkletNode(this.context, "pcm16-capture", {
      numberOfInputs: 1,
      numberOfOutputs: 0,
      channelCount: 1,
      channelCountMode: "explicit",
      processorOptions: { targetRate: REALTIME_RATE, chunkSeconds: CHUNK_SECONDS },
    });
    this.node.port.onmessage = ({ data }) => this.sendAudio(data);
    this.stream = await openMicrophone(); // last: everything said from now on is streamed
    this.context.createMediaStreamSource(this.stream).connect(this.node);
  }

  connect(secret) {
    const socket = new WebSocket(webSocketUrl("v1/realtime?intent=transcription"), subprotocols(secret));
    return new Promise((resolve, reject) => {
      socket.onopen = () => {
        socket.onclose = (event) => this.closed(event);
        socket.onmessage = (event) => this.received(event.data);
        resolve(socket);
      };
      socket.onclose = (event) =>
        reject(new Error(`Could not open the realtime connection (code ${event.code}${event.reason ? `: ${event.reason}` : ""}).`));
    });
  }

  sendAudio(buffer) {
    if (this.socket.readyState !== WebSocket.OPEN || this.closing) return;
    if (this.socket.bufferedAmount > MAX_QUEUED_BYTES) {
      this.feedback.error("The connection cannot keep up with the microphone: stopped.");
      this.stop();
      return;
    }
    this.socket.send(JSON.stringify({ type: "input_audio_buffer.append", audio: base64(new Uint8Array(buffer)) }));
    this.sentSamples += buffer.byteLength / 2;
    this.streamed.textContent = `${formatTime(this.sentSamples / REALTIME_RATE)} of audio streamed`;
  }

  received(data) {
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      return; // not an event of the protocol
    }
    const id = event.item_id;
    switch (event.type) {
      case "session.created":
      case "session.updated":
      case "transcription_session.updated":
        if (!this.closing) this.feedback.status("Listening: speak now.");
        break;
      case "input_audio_buffer.speech_started":
        this.speaking = id;
        this.pending.add(id);
        this.transcript.item(id);
        this.feedback.status("Hearing speech…");
        break;
      case "input_audio_buffer.speech_stopped":
      case "input_audio_buffer.committed":
        if (id) this.pending.add(id);
        if (this.speaking === id) this.speaking = null;
        break;
      case "conversation.item.input_audio_transcription.delta":
        this.transcript.delta(id, event.delta ?? "");
        break;
      case "conversation.item.input_audio_transcription.completed":
        this.transcript.completed(id, event.transcript ?? "");
        this.settled(id);
        break;
      case "conversation.item.input_audio_transcription.failed":
        this.transcript.failed(id, event.error?.message ?? "failed");
        this.feedback.error(event.error?.message ?? "A turn could not be transcribed.");
        this.settled(id);
        break;
      case "error":
        this.feedback.error(event.error?.message ?? "The server reported an error.");
        break;
    }
  }

  settled(id) {
    this.pending.delete(id);
    if (this.closing && !this.pending.size) this.finish?.();
  }

  closed(event) {
    if (!this.closing) {
      this.feedback.error(`The server closed the connection (code ${event.code}${event.reason ? `: ${event.reason}` : ""}).`);
    }
    this.release();
    this.finish?.();
    this.onEnded();
  }

  /** Microphone, worklet and audio context, released once (AudioContext.close() settles later). */
  release() {
    if (this.released) return;
    this.released = true;
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.node?.port.close();
    this.context?.close();
  }

  /** Stop the microphone, wait for the final transcripts of turns in progress, then close. */
  async stop() {
    if (this.closing) return;
    this.closing = true;
    this.release();
    if (this.socket?.readyState !== WebSocket.OPEN) {
      this.onEnded();
      return;
    }
    if (this.speaking) this.socket.send(JSON.stringify({ type: "input_audio_buffer.commit" }));
    if (this.pending.size) {
      this.feedback.status("Finishing the last turn…");
      await new Promise((resolve) => {
        this.finish = resolve;
        setTimeout(resolve, FINISH_TIMEOUT_MS);
      });
    }
    this.feedback.status("Stopped.");
    this.socket.close(1000, "done");
  }
}

export function setupLive(api) {
  const $ = (id) => document.getElementById(id);
  const button = $("live-button");
  const feedback = new Feedback($("live-alert"), $("live-status"));
  const transcript = new LiveTranscript($("live-transcript"));
  const streamed = $("live-streamed");
  let session = null;

  const ended = () => {
    session = null;
    button.textContent = "Live";
    button.disabled = false;
  };

  button.addEventListener("click", async () => {
    if (session) {
      button.disabled = true;
      await session.stop();
      return;
    }
    feedback.clear();
    feedback.status("Connecting…");
    button.disabled = true;
    streamed.textContent = "";
    session = new LiveSession(api, transcript, feedback, streamed, ended);
    try {
      await session.start();
    } catch (error) {
      session.closing = true; // our own close: not reported as the server's
      session.release();
      session.socket?.close();
      session = null;
      feedback.status("");
      feedback.error(error.message);
      button.disabled = false;
      return;
    }
    button.textContent = "Stop";
    button.disabled = false;
  });
}
