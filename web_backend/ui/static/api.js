// Shared by the pages: the token in sessionStorage, JSON calls, readable errors.
"use strict";

const Api = {
  key: "vtutor.token",
  token() { return sessionStorage.getItem(this.key); },
  setToken(token) { token ? sessionStorage.setItem(this.key, token) : sessionStorage.removeItem(this.key); },

  async call(method, path, body, { raw = false } = {}) {
    const headers = {};
    const token = this.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    let payload = body;
    if (body !== undefined && !(body instanceof FormData)) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    const response = await fetch(path, { method, headers, body: payload });
    if (response.status === 401 && path !== "/api/auth/login") {
      this.setToken(null);
      window.dispatchEvent(new Event("vtutor:logged-out"));
    }
    if (!response.ok) throw new Error(await this.describe(response));
    if (raw) return response;
    return response.status === 204 ? null : response.json();
  },

  // A sentence for the person at the page: validation errors name the field; a service's
  // message loses the internal stage prefix the gateway puts on it ("lipsync: ...").
  async describe(response) {
    try {
      const data = await response.json();
      if (Array.isArray(data.detail)) {
        return data.detail.map((d) => `${this.field((d.loc || []).slice(-1)[0])}: ${d.msg}`).join("; ");
      }
      if (typeof data.detail === "string") return this.clean(data.detail);
    } catch { /* not JSON */ }
    if (response.status >= 500) return `The server had a problem (${response.status}). Try again in a moment.`;
    return `The request was refused (${response.status} ${response.statusText}).`;
  },

  field(name) {
    const text = String(name ?? "value").replaceAll("_", " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  },

  clean(message) {
    const text = String(message || "").replace(/^(asr|llm|tts|lipsync|gateway): /, "").trim();
    return text.charAt(0).toUpperCase() + text.slice(1);
  },

  async login(email, password) {
    const data = await this.call("POST", "/api/auth/login", { email, password });
    this.setToken(data.access_token);
    return data;
  },

  async imageUrl(path) {
    const response = await this.call("GET", path, undefined, { raw: true });
    return URL.createObjectURL(await response.blob());
  },
};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
  return node;
}
