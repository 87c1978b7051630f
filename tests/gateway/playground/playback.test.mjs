// Which formats play while streaming, and the WAV wrapper that makes pcm playable.
import assert from "node:assert/strict";
import { test } from "node:test";

import { streamedFormats, streamingType, wavFromPcm16 } from "../../../gateway/playground/playback.mjs";

const chromium = (type) => ["audio/mpeg", "audio/aac", "audio/webm; codecs=opus"].includes(type);
const firefox = (type) => type.startsWith("audio/mp4") || type.startsWith("audio/webm");

test("mp3 and aac stream through MediaSource only where the browser says it can", () => {
  assert.equal(streamingType("mp3", chromium), "audio/mpeg");
  assert.equal(streamingType("aac", chromium), "audio/aac");
  assert.deepEqual(streamedFormats(chromium), ["mp3", "aac"]);
  assert.equal(streamingType("mp3", firefox), null); // Firefox: "addSourceBuffer: Type not supported"
  assert.deepEqual(streamedFormats(firefox), []);
  for (const format of ["opus", "flac", "wav", "pcm"]) assert.equal(streamingType(format, () => true), null);
});

test("pcm is wrapped in a WAV header for 24 kHz 16-bit mono", () => {
  const pcm = Uint8Array.from([1, 0, 2, 0, 3]); // two samples and a stray byte
  const wav = wavFromPcm16(pcm);
  const view = new DataView(wav.buffer);
  const text = (offset) => String.fromCharCode(...wav.subarray(offset, offset + 4));
  assert.equal(wav.length, 48);
  assert.equal(text(0), "RIFF");
  assert.equal(view.getUint32(4, true), 40);
  assert.equal(text(8), "WAVE");
  assert.equal(text(12), "fmt ");
  assert.equal(view.getUint16(20, true), 1); // PCM
  assert.equal(view.getUint16(22, true), 1); // mono
  assert.equal(view.getUint32(24, true), 24000);
  assert.equal(view.getUint32(28, true), 48000);
  assert.equal(view.getUint16(34, true), 16);
  assert.equal(text(36), "data");
  assert.equal(view.getUint32(40, true), 4);
  assert.deepEqual([...wav.subarray(44)], [1, 0, 2, 0]);
});
