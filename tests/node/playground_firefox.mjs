// The playground in Debian's Firefox ESR, driven over WebDriver BiDi by puppeteer-core (no browser
// download). Run by tests/e2e/test_playground_firefox.py against the local stack:
//
//   node tests/node/playground_firefox.mjs BASE_URL SPEECH_FILE
//
// Firefox is kept off the network: every non-loopback request goes to a dead proxy (loopback is
// never proxied) and the page's own requests are checked to stay on the server's origin. Firefox's
// fake microphone plays a tone, not a file, so Record is checked for a transcribed recording that
// plays back, not for its words. Prints one JSON line with what it measured (the caller checks the
// transcript's words); exits 1 on failure.

import assert from "node:assert/strict";
import puppeteer from "puppeteer-core";

const [base, speechFile] = process.argv.slice(2);
const FIREFOX = process.env.FIREFOX ?? "/usr/bin/firefox-esr";
const TIMEOUT_MS = 60_000;

const browser = await puppeteer.launch({
  browser: "firefox",
  executablePath: FIREFOX,
  headless: true,
  extraPrefsFirefox: {
    "media.navigator.streams.fake": true, // a fake microphone (a tone)
    "media.navigator.permission.disabled": true, // no permission prompt
    "media.autoplay.default": 0, // allow playback started by the page after a click
    "media.cubeb.force_mock_context": true, // an audio output device where the machine has none
    "network.proxy.type": 1,
    "network.proxy.http": "127.0.0.1",
    "network.proxy.http_port": 9,
    "network.proxy.ssl": "127.0.0.1",
    "network.proxy.ssl_port": 9,
    "network.proxy.no_proxies_on": "",
  },
});

const measured = {};
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  const origin = new URL(base).origin;
  const foreign = [];
  const pageErrors = [];
  page.on("request", (request) => {
    const url = request.url();
    if (!url.startsWith("blob:") && !url.startsWith("data:") && new URL(url).origin !== origin) foreign.push(url);
  });
  page.on("pageerror", (error) => pageErrors.push(String(error)));

  await page.goto(`${base}/playground`);
  await page.waitForSelector("body[data-ready]");
  measured.voices = await page.$$eval("#speak-voice option", (options) => options.length);
  assert.ok(measured.voices > 0, "the Voice list is empty");

  const text = (id) => page.$eval(id, (element) => element.textContent);
  const alertText = (id) => page.$eval(id, (element) => (element.hidden ? "" : element.textContent));

  // Speak: mp3 cannot stream through MediaSource in Firefox, so it must play once complete.
  measured.durations = {};
  await page.$eval("#speak-text", (element) => (element.value = "The quick brown fox jumps over the lazy dog."));
  for (const format of ["mp3", "opus", "wav", "pcm"]) {
    await page.select("#speak-format", format);
    await page.click("#speak-button");
    await page.waitForFunction(() => !document.getElementById("speak-download").hidden || !document.getElementById("speak-alert").hidden);
    assert.equal(await alertText("#speak-alert"), "", `speak ${format}: alert`);
    await page.waitForFunction(() => {
      const audio = document.getElementById("speak-audio");
      return (Number.isFinite(audio.duration) && audio.duration > 0) || audio.error;
    });
    measured.durations[format] = await page.$eval("#speak-audio", (audio) => audio.duration);
    assert.ok(measured.durations[format] > 0.5, `speak ${format}: duration ${measured.durations[format]}`);
    assert.match(await text("#speak-status"), /played once complete/, `speak ${format}: status`);
  }

  // Transcribe a file.
  await (await page.$("#transcribe-file")).uploadFile(speechFile);
  await page.select("#transcribe-format", "text");
  await page.click("#transcribe-button");
  await page.waitForFunction(() => /^Transcribed/.test(document.getElementById("transcribe-status").textContent) || !document.getElementById("transcribe-alert").hidden);
  assert.equal(await alertText("#transcribe-alert"), "", "transcribe: alert");
  measured.transcript = (await text("#transcript")).trim();
  assert.ok(measured.transcript, "transcribe: empty transcript");

  // Record with the fake microphone, Stop, then the recording is transcribed and plays back.
  await page.click("#record-button");
  await page.waitForFunction(() => document.getElementById("record-button").textContent === "Stop");
  await page.waitForFunction(() => parseFloat(document.getElementById("transcribe-status").textContent.split(":")[1]) >= 2);
  await page.click("#record-button");
  await page.waitForFunction(() => /^Transcribed/.test(document.getElementById("transcribe-status").textContent) || !document.getElementById("transcribe-alert").hidden);
  assert.equal(await alertText("#transcribe-alert"), "", "record: alert");
  assert.equal(await text("#record-button"), "Record");
  await page.waitForFunction(() => {
    const audio = document.getElementById("recording-audio");
    return Number.isFinite(audio.duration) && audio.duration > 0;
  });
  measured.recording_seconds = await page.$eval("#recording-audio", (audio) => audio.duration);
  assert.ok(measured.recording_seconds >= 1, `record: duration ${measured.recording_seconds}`);

  // Live: the microphone, at Firefox's own rate, resampled and streamed.
  {
    await page.click("#live-button");
    await page.waitForFunction(() => document.getElementById("live-button").textContent === "Stop" || !document.getElementById("live-alert").hidden);
    await page.waitForFunction(() => parseFloat(document.getElementById("live-streamed").textContent.split(":")[1]) >= 1.5 || !document.getElementById("live-alert").hidden);
    assert.equal(await alertText("#live-alert"), "", "live: alert");
    await page.click("#live-button");
    await page.waitForFunction(() => document.getElementById("live-button").textContent === "Live");
    assert.equal(await alertText("#live-alert"), "", "live: alert after Stop");
    measured.live_status = await text("#live-status");
  }

  // An empty text shows the API's error in the alert.
  await page.$eval("#speak-text", (element) => (element.value = ""));
  await page.click("#speak-button");
  await page.waitForFunction(() => !document.getElementById("speak-alert").hidden);
  measured.empty_text_alert = await alertText("#speak-alert");

  assert.deepEqual(foreign, [], "requests left the server's origin");
  assert.deepEqual(pageErrors, [], "uncaught page errors");
  measured.firefox = await browser.version();
  console.log(JSON.stringify(measured));
} finally {
  await browser.close();
}
