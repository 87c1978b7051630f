// Small DOM helpers shared by the sections: alerts, status lines, busy buttons, times.

/** Seconds as m:ss.cc (e.g. 0:01.25), for transcript tables and recording lengths. */
export function formatTime(seconds) {
  const centiseconds = Math.round(Math.max(0, Number(seconds) || 0) * 100);
  const minutes = Math.floor(centiseconds / 6000);
  const rest = ((centiseconds % 6000) / 100).toFixed(2).padStart(5, "0");
  return `${minutes}:${rest}`;
}

/** A section's alert (role="alert") and status (role="status") lines. */
export class Feedback {
  constructor(alertElement, statusElement) {
    this.alertElement = alertElement;
    this.statusElement = statusElement;
  }

  error(message) {
    this.alertElement.textContent = message;
    this.alertElement.hidden = false;
  }

  status(message) {
    this.statusElement.textContent = message;
  }

  clear() {
    this.alertElement.textContent = "";
    this.alertElement.hidden = true;
    this.statusElement.textContent = "";
  }

  /** Report a failure: a cancelled request is a status, anything else an alert. */
  failed(error) {
    if (error?.name === "AbortError") {
      this.status("Cancelled.");
    } else {
      this.status("");
      this.error(error?.message || String(error));
    }
  }
}

/**
 * Run one request of a section: its buttons disabled and its Cancel button enabled meanwhile.
 * task(signal) gets an AbortSignal that the Cancel button fires.
 */
export async function runCancellable({ buttons, cancel, feedback }, task) {
  const controller = new AbortController();
  const onCancel = () => controller.abort();
  for (const button of buttons) button.disabled = true;
  cancel.disabled = false;
  cancel.addEventListener("click", onCancel);
  try {
    await task(controller.signal);
  } catch (error) {
    feedback.failed(error);
  } finally {
    cancel.removeEventListener("click", onCancel);
    cancel.disabled = true;
    for (const button of buttons) button.disabled = false;
  }
}

/** Replace an element's object URL, revoking the previous one so blobs do not pile up. */
export function setObjectUrl(element, attribute, blob) {
  const previous = element.getAttribute(attribute);
  if (previous?.startsWith("blob:")) URL.revokeObjectURL(previous);
  if (blob) element.setAttribute(attribute, URL.createObjectURL(blob));
  else element.removeAttribute(attribute);
}
