// The playground page: reads this server's settings (playground/features.json), asks for the API
// key when the server needs one, and wires each section.

import { Api, apiUrl } from "./api.mjs";
import { setupClone } from "./clone.mjs";
import { setupLive } from "./live.mjs";
import { setupSpeak } from "./speak.mjs";
import { setupTranscribe } from "./transcribe.mjs";

const $ = (id) => document.getElementById(id);
const keyForm = $("key-form");
const keyInput = $("api-key");
const pageAlert = $("page-alert");

function showPageAlert(message) {
  pageAlert.textContent = message;
  pageAlert.hidden = !message;
}

function askForKey(message) {
  showPageAlert(message);
  keyForm.hidden = false;
  keyInput.focus();
}

async function loadFeatures() {
  const response = await fetch(apiUrl("playground/features.json"), { cache: "no-store" });
  if (!response.ok) throw new Error(`playground/features.json: HTTP ${response.status}`);
  return response.json();
}

const api = new Api((message) => askForKey(`${message} Enter the API key above.`));
const speak = setupSpeak(api);
setupTranscribe(api);

let setCloning = null; // set once the Clone section is wired

async function loadVoices() {
  try {
    const listing = await speak.loadVoices();
    setCloning?.(listing);
  } catch (error) {
    speak.feedback.error(`Could not load the voices: ${error.message}`);
  }
}

keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  api.key = keyInput.value.trim();
  keyInput.value = "";
  keyForm.hidden = true;
  showPageAlert("");
  loadVoices();
});

let features = { api_key_required: false, consent_statements: {} };
try {
  features = await loadFeatures();
} catch (error) {
  showPageAlert(`Could not read this server's settings (${error.message}).`);
}
setupLive(api);
setCloning = setupClone(api, {
  statements: features.consent_statements ?? {},
  onVoiceCreated: (id) => speak.loadVoices(id),
});
if (features.api_key_required && !api.key) {
  keyForm.hidden = false;
  speak.feedback.status("Enter the API key above to load the voices.");
} else {
  await loadVoices();
}
document.body.dataset.ready = "true"; // for tests and screenshots: every section is wired
