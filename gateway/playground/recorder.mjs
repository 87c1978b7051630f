// The microphone: getUserMedia for the Record buttons (MediaRecorder) and for Live (raw PCM).

// What MediaRecorder writes, best first. Ogg first: Firefox records WebM too, but without a
// duration its player cannot find; Chromium records WebM only, Safari MP4.
const RECORDING_TYPES = ["audio/ogg;codecs=opus", "audio/webm;codecs=opus", "audio/mp4"];

export function recordingType(isTypeSupported) {
  return RECORDING_TYPES.find((type) => isTypeSupported(type)) ?? "";
}

/** A file extension the server recognises for a recording's MIME type ("audio/webm;codecs=opus" -> "webm"). */
export function extensionOf(type) {
  const subtype = (type || "audio/webm").split(";")[0].split("/")[1] ?? "webm";
  return { mpeg: "mp3", "x-wav": "wav", wave: "wav" }[subtype] ?? subtype;
}

/** What to tell the person when the microphone cannot be opened. */
export function microphoneMessage(error) {
  switch (error?.name) {
    case "NotAllowedError":
      return "Microphone access was denied: allow it for this site in the browser's settings and try again.";
    case "NotFoundError":
      return "No microphone was found.";
    case "NotReadableError":
      return "The microphone is in use by another application or cannot be read.";
    default:
      return `Microphone: ${error?.message || error}`;
  }
}

export async function openMicrophone() {
  if (!navigator.mediaDevices?.getUserMedia) {
    // Browsers offer the microphone only to secure contexts.
    throw new Error("The microphone needs a secure context: open this page over https, or on localhost.");
  }
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    throw new Error(microphoneMessage(error));
  }
}

/** One recording: start(), then stop() (or the time limit) resolves `finished` with the audio Blob. */
export class Recorder {
  constructor(maxSeconds) {
    this.maxSeconds = maxSeconds;
  }

  async start() {
    this.stream = await openMicrophone();
    const type = recordingType((t) => MediaRecorder.isTypeSupported(t));
    const recorder = new MediaRecorder(this.stream, type ? { mimeType: type } : {});
    const chunks = [];
    recorder.addEventListener("dataavailable", (event) => event.data.size && chunks.push(event.data));
    this.finished = new Promise((resolve, reject) => {
      recorder.addEventListener("stop", () => {
        this.release();
        resolve(new Blob(chunks, { type: recorder.mimeType || type }));
      });
      recorder.addEventListener("error", (event) => {
        this.release();
        reject(new Error(`Recording failed: ${event.error?.message || "unknown error"}`));
      });
    });
    this.recorder = recorder;
    this.startedAt = performance.now();
    this.limit = setTimeout(() => this.stop(), this.maxSeconds * 1000);
    recorder.start(1000); // a chunk a second, so a long recording is never one huge buffer mid-flight
  }

  get seconds() {
    return this.startedAt ? ((this.stoppedAt ?? performance.now()) - this.startedAt) / 1000 : 0;
  }

  stop() {
    clearTimeout(this.limit);
    if (this.recorder?.state !== "inactive") this.recorder?.stop();
  }

  release() {
    clearTimeout(this.limit);
    this.stoppedAt ??= performance.now();
    for (const track of this.stream?.getTracks() ?? []) track.stop();
  }
}

/**
 * Wire a Record button: it starts a recording and becomes `stopLabel` until stopped (or the time
 * limit), then hands the recording to onRecorded(blob, seconds). Microphone errors go to feedback.
 */
export function recordButton(button, { maxSeconds, stopLabel = "Stop", feedback, onStart, onStop, onRecorded }) {
  const label = button.textContent;
  let recorder = null;
  button.addEventListener("click", async () => {
    if (recorder) {
      recorder.stop();
      return;
    }
    feedback.clear();
    recorder = new Recorder(maxSeconds);
    button.disabled = true; // until the microphone is open (the browser may be asking for permission)
    try {
      await recorder.start();
    } catch (error) {
      recorder = null;
      feedback.error(error.message);
      return;
    } finally {
      button.disabled = false;
    }
    button.textContent = stopLabel;
    onStart?.();
    const tick = () =>
      feedback.status(`Recording: ${recorder.seconds.toFixed(1)} s (at most ${maxSeconds} s). Press ${stopLabel} to finish.`);
    tick();
    const ticker = setInterval(tick, 200);
    let blob = null;
    let length = "";
    try {
      blob = await recorder.finished;
      length = recorder.seconds.toFixed(1);
      feedback.status(`Recorded ${length} s.`);
    } catch (error) {
      feedback.error(error.message);
    } finally {
      clearInterval(ticker);
      recorder = null;
      button.textContent = label;
      onStop?.();
    }
    if (blob) await onRecorded(blob, length);
  });
}
