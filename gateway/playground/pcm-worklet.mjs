// Audio worklet for Live: the microphone at the AudioContext's own rate (a context opened at
// another rate cannot take a microphone in Firefox), resampled to the target rate and posted to the
// page as 16-bit PCM chunks. It holds one chunk at a time; the page sends each one on at once.

import { Resampler, floatToPcm16 } from "./pcm.mjs";

class Pcm16Capture extends AudioWorkletProcessor {
  constructor({ processorOptions }) {
    super();
    const { targetRate, chunkSeconds } = processorOptions;
    this.resampler = new Resampler(sampleRate, targetRate); // sampleRate: the context's, a worklet global
    this.chunkSamples = Math.round(targetRate * chunkSeconds);
    this.chunk = new Int16Array(this.chunkSamples);
    this.filled = 0;
  }

  process(inputs) {
    const channel = inputs[0]?.[0]; // mono: the node down-mixes its input to one channel
    if (channel) this.push(this.resampler.process(channel));
    return true;
  }

  push(samples) {
    let offset = 0;
    while (offset < samples.length) {
      const count = Math.min(samples.length - offset, this.chunkSamples - this.filled);
      floatToPcm16(samples.subarray(offset, offset + count), this.chunk, this.filled);
      this.filled += count;
      offset += count;
      if (this.filled === this.chunkSamples) {
        this.port.postMessage(this.chunk.buffer, [this.chunk.buffer]); // transferred: detached here
        this.chunk = new Int16Array(this.chunkSamples);
        this.filled = 0;
      }
    }
  }
}

registerProcessor("pcm16-capture", Pcm16Capture);
