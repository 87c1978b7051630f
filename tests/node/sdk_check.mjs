// The official OpenAI Node SDK against a running stack, as a Node user would call it.
//
//   node tests/node/sdk_check.mjs BASE_URL AUDIO_FILE OUT_DIR
//
// Prints one JSON document with what each call returned (or the error it raised); speech is
// written to OUT_DIR/speech.<format>. tests/e2e/test_node_sdk.py runs it and checks the results.
import fs from "node:fs";
import path from "node:path";
import OpenAI, { toFile } from "openai";

const [baseURL, audioPath, outDir] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0, timeout: 300_000 });
const results = {};

async function record(name, call) {
  try {
    results[name] = { ok: true, value: await call() };
  } catch (error) {
    results[name] = {
      ok: false,
      class: error?.constructor?.name,
      status: error?.status ?? null,
      error: error?.error ?? null,
      message: String(error?.message ?? error),
    };
  }
}

await record("models", async () => (await client.models.list()).data.map((model) => model.id));

for (const format of ["json", "text", "srt", "vtt", "verbose_json"]) {
  await record(`transcription-${format}`, () =>
    client.audio.transcriptions.create({
      file: fs.createReadStream(audioPath),
      model: "whisper-1",
      response_format: format,
    }),
  );
}
await record("transcription-words", () =>
  client.audio.transcriptions.create({
    file: fs.createReadStream(audioPath),
    model: "whisper-1",
    response_format: "verbose_json",
    timestamp_granularities: ["word"],
  }),
);
await record("transcription-toFile", async () =>
  client.audio.transcriptions.create({
    file: await toFile(fs.readFileSync(audioPath), path.basename(audioPath)),
    model: "whisper-1",
  }),
);
await record("transcription-stream", async () => {
  const events = [];
  const stream = await client.audio.transcriptions.create({
    file: fs.createReadStream(audioPath),
    model: "whisper-1",
    stream: true,
  });
  for await (const event of stream) events.push(event);
  return events;
});
await record("translation", () =>
  client.audio.translations.create({ file: fs.createReadStream(audioPath), model: "whisper-1" }),
);

for (const format of ["mp3", "opus", "aac", "flac", "wav", "pcm"]) {
  await record(`speech-${format}`, async () => {
    const response = await client.audio.speech.create({
      model: "tts-1",
      voice: "alloy",
      input: "The quick brown fox jumps over the lazy dog.",
      response_format: format,
    });
    const target = path.join(outDir, `speech.${format}`);
    fs.writeFileSync(target, Buffer.from(await response.arrayBuffer()));
    return { contentType: response.headers.get("content-type"), file: target };
  });
}

await record("error-bad-speed", () =>
  client.audio.speech.create({ model: "tts-1", voice: "alloy", input: "x", speed: 9 }),
);
await record("error-unknown-model", () => client.models.retrieve("gpt-nothing"));
await record("error-bad-transcription-model", () =>
  client.audio.transcriptions.create({ file: fs.createReadStream(audioPath), model: "gpt-4o-transcribe" }),
);

// A permanent refusal (diarization without HF_TOKEN) must reach the server once, even with the
// SDK's default retries: it carries x-should-retry: false.
let calls = 0;
const counting = new OpenAI({
  baseURL,
  apiKey: "unused",
  maxRetries: 2,
  fetch: (...args) => {
    calls += 1;
    return fetch(...args);
  },
});
await record("error-permanent", () =>
  counting.audio.transcriptions.create({
    file: fs.createReadStream(audioPath),
    model: "whisper-1",
    response_format: "diarized_json",
  }),
);
results["error-permanent"].calls = calls;

process.stdout.write(JSON.stringify(results));
