// How speech is played in an <audio> element: while it streams through MediaSource where the
// browser supports the format there, otherwise from a Blob once the response is complete.

/** The API's pcm: raw 16-bit little-endian mono at 24 kHz. */
export const PCM_RATE = 24000;

export const CONTENT_TYPES = {
  mp3: "audio/mpeg",
  opus: "audio/ogg",
  aac: "audio/aac",
  flac: "audio/flac",
  wav: "audio/wav",
  pcm: "audio/pcm",
};

// Formats made of self-contained frames that a MediaSource can take as they arrive. Whether this
// browser can is asked at run time: Chromium takes both, Firefox neither ("addSourceBuffer: Type
// not supported" is what assuming otherwise gives).
const STREAMABLE = { mp3: "audio/mpeg", aac: "audio/aac" };

/** The MediaSource type to stream `format` with, or null to play it once complete. */
export function streamingType(format, isTypeSupported) {
  const type = STREAMABLE[format];
  return type && isTypeSupported(type) ? type : null;
}

/** The formats this browser plays while streaming, for the page to say so. */
export function streamedFormats(isTypeSupported) {
  return Object.keys(STREAMABLE).filter((format) => streamingType(format, isTypeSupported));
}

/** Raw PCM16 mono wrapped in a 44-byte WAV header, so an <audio> element can play it. */
export function wavFromPcm16(pcm, rate = PCM_RATE) {
  const bytes = pcm.byteLength - (pcm.byteLength % 2); // a trailing odd byte is not a sample
  const wav = new Uint8Array(44 + bytes);
  const view = new DataView(wav.buffer);
  const ascii = (offset, text) => [...text].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  ascii(0, "RIFF");
  view.setUint32(4, 36 + bytes, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  view.setUint32(16, 16, true); // fmt chunk size
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true); // byte rate
  view.setUint16(32, 2, true); // block align
  view.setUint16(34, 16, true); // bits per sample
  ascii(36, "data");
  view.setUint32(40, bytes, true);
  wav.set(pcm.subarray(0, bytes), 44);
  return wav;
}

/** Resolves on the next `event` of `target`; rejects with an AbortError if `signal` fires first. */
function once(target, event, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const abort = () => reject(signal.reason);
    signal?.addEventListener("abort", abort, { once: true });
    target.addEventListener(
      event,
      (value) => {
        signal?.removeEventListener("abort", abort);
        resolve(value);
      },
      { once: true },
    );
  });
}

/**
 * Feeds an <audio> element through a MediaSource, one chunk at a time. Appends only when the
 * SourceBuffer is idle; when the browser's buffer quota is reached it drops audio already played
 * and, if that is not enough, waits for playback to move on, so memory stays bounded.
 */
export class MediaSourcePlayer {
  static async open(audio, type) {
    const source = new MediaSource();
    audio.src = URL.createObjectURL(source);
    await once(source, "sourceopen");
    URL.revokeObjectURL(audio.src); // the element holds the MediaSource now
    return new MediaSourcePlayer(audio, source, source.addSourceBuffer(type));
  }

  constructor(audio, source, buffer) {
    this.audio = audio;
    this.source = source;
    this.buffer = buffer;
  }

  async idle() {
    while (this.buffer.updating) await once(this.buffer, "updateend");
  }

  async append(chunk, signal) {
    for (;;) {
      await this.idle();
      try {
        this.buffer.appendBuffer(chunk);
        await this.idle();
        return;
      } catch (error) {
        if (error.name !== "QuotaExceededError") throw error;
        await this.makeRoom(signal);
      }
    }
  }

  async makeRoom(signal) {
    const played = this.audio.currentTime - 1; // keep a second behind the playhead
    if (this.buffer.buffered.length && played > this.buffer.buffered.start(0)) {
      this.buffer.remove(0, played);
      await this.idle();
    } else {
      await once(this.audio, "timeupdate", signal); // nothing played yet: wait for the listener
    }
  }

  /** No more data: lets the element know the duration and finish playing. */
  async end() {
    await this.idle();
    if (this.source.readyState === "open") this.source.endOfStream();
  }
}
