// The Live section's PCM path: resampling to 24 kHz, float to 16-bit, base64.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Resampler, base64, floatToPcm16 } from "../../../gateway/playground/pcm.mjs";

function sine(frequency, rate, seconds, amplitude = 0.5) {
  return Float32Array.from({ length: Math.round(rate * seconds) }, (_, i) => amplitude * Math.sin((2 * Math.PI * frequency * i) / rate));
}

/** Resample in blocks of `block` samples, as the audio worklet does (128 per render quantum). */
function resample(input, from, to, block = 128) {
  const resampler = new Resampler(from, to);
  const parts = [];
  for (let i = 0; i < input.length; i += block) parts.push(resampler.process(input.subarray(i, i + block)));
  const output = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    output.set(part, offset);
    offset += part.length;
  }
  return output;
}

const rms = (x) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
const middle = (x) => x.subarray(Math.floor(x.length * 0.2), Math.floor(x.length * 0.8)); // away from the edges

function zeroCrossings(x) {
  let count = 0;
  for (let i = 1; i < x.length; i++) if ((x[i - 1] < 0) !== (x[i] < 0)) count++;
  return count;
}

for (const rate of [48000, 44100, 16000]) {
  test(`a 440 Hz tone keeps its pitch and level from ${rate} Hz to 24 kHz`, () => {
    const output = resample(sine(440, rate, 1), rate, 24000);
    assert.ok(Math.abs(output.length - 24000) <= 40, `output length ${output.length}`);
    const kept = middle(output);
    assert.ok(Math.abs(rms(kept) / (0.5 / Math.SQRT2) - 1) < 0.02, `level ratio ${rms(kept) / (0.5 / Math.SQRT2)}`);
    const frequency = zeroCrossings(kept) / 2 / (kept.length / 24000);
    assert.ok(Math.abs(frequency - 440) < 3, `frequency ${frequency}`);
  });
}

test("a tone above the new Nyquist frequency is filtered out instead of aliasing", () => {
  // 15 kHz at 48 kHz would fold to 9 kHz at 24 kHz without the low-pass filter.
  const output = middle(resample(sine(15000, 48000, 0.5), 48000, 24000));
  assert.ok(rms(output) < (0.5 / Math.SQRT2) * 0.01, `leak ${rms(output)}`); // at least 40 dB down
});

test("block size does not change the result (the resampler streams)", () => {
  const input = sine(1000, 44100, 0.3);
  const whole = resample(input, 44100, 24000, input.length);
  const blocks = resample(input, 44100, 24000, 128);
  const odd = resample(input, 44100, 24000, 37);
  assert.equal(blocks.length, whole.length);
  assert.equal(odd.length, whole.length);
  assert.ok(whole.length > 7000);
  for (let i = 0; i < whole.length; i++) {
    assert.ok(Math.abs(whole[i] - blocks[i]) < 1e-6 && Math.abs(whole[i] - odd[i]) < 1e-6, `sample ${i}`);
  }
});

test("equal rates pass through", () => {
  const input = sine(300, 24000, 0.1);
  assert.deepEqual(resample(input, 24000, 24000), input);
});

test("floats become 16-bit samples, clamped", () => {
  const out = floatToPcm16(Float32Array.from([-2, -1, -0.5, 0, 0.5, 1, 2]), new Int16Array(7));
  assert.deepEqual([...out], [-32768, -32768, -16384, 0, 16384, 32767, 32767]);
});

test("base64 matches Node's for long buffers", () => {
  const bytes = Uint8Array.from({ length: 100_003 }, (_, i) => (i * 7919) % 256);
  assert.equal(base64(bytes), Buffer.from(bytes).toString("base64"));
});
