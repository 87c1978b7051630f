// PCM for the realtime API: band-limited resampling from the microphone's rate to 24 kHz, float to
// 16-bit conversion and base64. Pure functions, shared by the audio worklet and the page.

/**
 * A streaming windowed-sinc resampler. Each output sample is the input low-pass filtered below the
 * lower of the two Nyquist frequencies, evaluated at its exact position in the input, so any pair
 * of rates works (48 kHz or 44.1 kHz microphones to 24 kHz) without aliasing. It keeps only the
 * few input samples the next outputs need.
 */
export class Resampler {
  constructor(inputRate, outputRate, zeroCrossings = 8) {
    this.step = inputRate / outputRate; // input samples per output sample
    // Cut-off as a fraction of the input Nyquist frequency, a little below the output's.
    this.cutoff = Math.min(1, outputRate / inputRate) * 0.9;
    this.halfWidth = Math.ceil(zeroCrossings / this.cutoff); // filter half-length, in input samples
    this.history = new Float32Array(0);
    this.start = 0; // stream index of history[0]
    this.next = 0; // stream index of the next output sample
  }

  kernel(offset) {
    const x = offset * this.cutoff;
    const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
    const hann = 0.5 + 0.5 * Math.cos((Math.PI * offset) / this.halfWidth);
    return this.cutoff * sinc * hann;
  }

  /** Resample the next block of input; returns the output samples it completes. */
  process(input) {
    if (this.step === 1) return Float32Array.from(input);
    const buffer = new Float32Array(this.history.length + input.length);
    buffer.set(this.history);
    buffer.set(input, this.history.length);
    const end = this.start + buffer.length;
    const output = new Float32Array(Math.ceil(buffer.length / this.step) + 1);
    let count = 0;
    for (;;) {
      const position = this.next * this.step;
      const center = Math.floor(position);
      if (center + this.halfWidth >= end) break; // needs input that has not arrived yet
      let sum = 0;
      for (let k = center - this.halfWidth + 1; k <= center + this.halfWidth; k++) {
        if (k >= this.start) sum += buffer[k - this.start] * this.kernel(position - k); // before the stream: silence
      }
      output[count++] = sum;
      this.next++;
    }
    const keep = Math.max(this.start, Math.floor(this.next * this.step) - this.halfWidth + 1);
    this.history = buffer.slice(keep - this.start);
    this.start = keep;
    return output.slice(0, count);
  }
}

/** Float samples in [-1, 1] (clamped) into `target` as 16-bit integers, starting at `offset`. */
export function floatToPcm16(samples, target, offset = 0) {
  for (let i = 0; i < samples.length; i++) {
    const x = Math.max(-1, Math.min(1, samples[i]));
    target[offset + i] = x < 0 ? Math.round(x * 0x8000) : Math.round(x * 0x7fff);
  }
  return target;
}

/** Base64 of bytes, in slices so long buffers never exceed the argument limit of fromCharCode. */
export function base64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
