// The public API as any client calls it: relative URLs (so a proxy's sub-path works), the API key
// as a Bearer token when the server needs one, and errors read from the OpenAI envelope.

const KEY_STORAGE = "speech-playground-api-key";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

/** The message to show for a failed response: the envelope's error.message, else the body, else the status. */
export function errorMessage(status, body) {
  try {
    const parsed = JSON.parse(body);
    if (typeof parsed?.error?.message === "string" && parsed.error.message) return parsed.error.message;
    if (typeof parsed?.detail === "string" && parsed.detail) return parsed.detail;
  } catch {
    // not JSON: fall through to the text itself
  }
  const text = (body ?? "").trim();
  return text ? `HTTP ${status}: ${text.slice(0, 500)}` : `HTTP ${status}`;
}

/** An absolute URL for an API path such as "v1/audio/speech", against the page's own base. */
export function apiUrl(path, base = document.baseURI) {
  return new URL(path, base);
}

/** The ws:// or wss:// URL for a WebSocket API path, on the page's own origin. */
export function webSocketUrl(path, base = document.baseURI) {
  const url = apiUrl(path, base);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url;
}

export class Api {
  /** onUnauthorized(message) is called on a 401, after the stored key has been forgotten. */
  constructor(onUnauthorized) {
    this.onUnauthorized = onUnauthorized;
  }

  get key() {
    return sessionStorage.getItem(KEY_STORAGE);
  }

  set key(value) {
    if (value) sessionStorage.setItem(KEY_STORAGE, value);
    else sessionStorage.removeItem(KEY_STORAGE);
  }

  /** fetch() an API path; resolves with an ok Response, rejects with ApiError (or AbortError). */
  async request(path, { method = "GET", json, form, signal } = {}) {
    const headers = {};
    if (this.key) headers.Authorization = `Bearer ${this.key}`;
    let body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form !== undefined) {
      body = form; // the browser writes the multipart boundary itself
    }
    let response;
    try {
      response = await fetch(apiUrl(path), { method, headers, body, signal });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(0, `Could not reach the server (${error.message}).`);
    }
    if (!response.ok) {
      const error = new ApiError(response.status, errorMessage(response.status, await response.text()));
      if (response.status === 401) {
        this.key = null;
        this.onUnauthorized(error.message);
      }
      throw error;
    }
    return response;
  }

  async json(path, options) {
    return (await this.request(path, options)).json();
  }
}
