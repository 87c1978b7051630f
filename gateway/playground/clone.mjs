// Clone a voice: a consent recording (POST /v1/audio/voice_consents), then a sample of the same
// voice (POST /v1/audio/voices); the new voice is then selected in Speak's Voice list.

import { extensionOf, recordButton } from "./recorder.mjs";
import { Feedback, runCancellable } from "./ui.mjs";

const MAX_CLIP_SECONDS = 30; // the API takes samples of at most 30 s

export function consentForm(name, language, recording) {
  const form = new FormData();
  form.append("name", name);
  form.append("language", language);
  form.append("recording", recording, recording.name);
  return form;
}

export function voiceForm(name, consentId, sample) {
  const form = new FormData();
  form.append("name", name);
  form.append("consent", consentId);
  form.append("audio_sample", sample, sample.name);
  return form;
}

/**
 * statements: language -> the consent statement the server checks for (features.json).
 * Returns setCloning(listing), to call with each GET /v1/audio/voices answer.
 */
export function setupClone(api, { statements, onVoiceCreated }) {
  const $ = (id) => document.getElementById(id);
  const feedback = new Feedback($("clone-alert"), $("clone-status"));
  const button = $("clone-button");
  const cancel = $("clone-cancel");
  const name = $("voice-name");
  const language = $("consent-language");
  const statement = $("consent-statement");
  const unavailable = $("clone-unavailable");
  language.replaceChildren(...Object.keys(statements).map((code) => new Option(code, code)));
  const showStatement = () => {
    statement.textContent = statements[language.value] ?? "";
  };
  language.addEventListener("change", showStatement);
  showStatement();
  const clips = {
    consent: { file: $("consent-file"), record: $("consent-record"), note: $("consent-recorded"), recorded: null },
    sample: { file: $("sample-file"), record: $("sample-record"), note: $("sample-recorded"), recorded: null },
  };
  const recordButtons = Object.values(clips).map((clip) => clip.record);

  for (const [key, clip] of Object.entries(clips)) {
    clip.file.addEventListener("change", () => {
      clip.recorded = null; // the latest choice wins
      clip.note.textContent = "";
    });
    const others = recordButtons.filter((b) => b !== clip.record);
    recordButton(clip.record, {
      maxSeconds: MAX_CLIP_SECONDS,
      feedback,
      onStart: () => others.concat(button).forEach((b) => (b.disabled = true)),
      onStop: () => others.concat(button).forEach((b) => (b.disabled = false)),
      onRecorded: (blob, seconds) => {
        clip.recorded = new File([blob], `${key}.${extensionOf(blob.type)}`, { type: blob.type });
        clip.file.value = "";
        clip.note.textContent = `Using the ${seconds} s recording.`;
      },
    });
  }

  const chosen = (clip) => clip.recorded ?? clip.file.files[0] ?? null;

  $("clone-form").addEventListener("submit", (event) => {
    event.preventDefault();
    runCancellable({ buttons: [button, ...recordButtons], cancel, feedback }, async (signal) => {
      feedback.clear();
      const voiceName = name.value.trim();
      const consent = chosen(clips.consent);
      const sample = chosen(clips.sample);
      const missing = [!consent && "a consent recording", !sample && "a voice sample", !voiceName && "a voice name"];
      if (missing.some(Boolean)) {
        feedback.error(`Give ${missing.filter(Boolean).join(", ")} first.`);
        return;
      }
      feedback.status("Checking the consent recording…");
      const form = consentForm(voiceName, language.value, consent);
      const consentResource = await api.json("v1/audio/voice_consents", { method: "POST", form, signal });
      feedback.status("Consent accepted. Creating the voice…");
      const voice = await api.json("v1/audio/voices", {
        method: "POST",
        form: voiceForm(voiceName, consentResource.id, sample),
        signal,
      });
      await onVoiceCreated(voice.id);
      feedback.status(`Voice "${voice.name ?? voiceName}" created (${voice.id}); it is selected in Speak.`);
    });
  });

  return function setCloning(listing) {
    // An engine that cannot clone (Piper, the quick start's) would refuse: say so before anyone records.
    const cannot = listing?.cloning === false;
    unavailable.hidden = !cannot;
    unavailable.textContent = cannot
      ? `This server's ${listing.engine ?? "TTS"} engine cannot clone voices: the TTS service needs TTS_ENGINE=coqui.`
      : "";
    for (const control of [button, ...recordButtons]) control.disabled = cannot;
  };
}
