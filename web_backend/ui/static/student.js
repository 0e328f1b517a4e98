// The student page: pick a tutor, talk live through the rtc_edge, or chat by text.
"use strict";

const $ = (id) => document.getElementById(id);
let live = null;
let chat = { tutor: null, sessionId: null };

function showApp(loggedIn) {
  $("login").classList.toggle("hidden", loggedIn);
  $("app").classList.toggle("hidden", !loggedIn);
  $("logout").classList.toggle("hidden", !loggedIn);
}

async function start() {
  try {
    const me = await Api.call("GET", "/api/auth/me");
    $("who").textContent = me.email;
    showApp(true);
    await loadTutors();
  } catch { Api.setToken(null); showApp(false); }
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    const token = await Api.login($("login-email").value, $("login-password").value);
    if (token.role !== "student") { Api.setToken(null); throw new Error("admins log in at /admin"); }
    await start();
  } catch (error) { $("login-error").textContent = error.message; }
});
$("logout").addEventListener("click", () => { Api.setToken(null); showApp(false); });
window.addEventListener("vtutor:logged-out", () => showApp(false));

async function loadTutors() {
  const rows = $("tutor-rows");
  rows.replaceChildren();
  for (const tutor of await Api.call("GET", "/api/student/tutors")) {
    const image = el("img", { class: "avatar-preview", alt: tutor.name });
    if (tutor.avatar_id) Api.imageUrl(`/api/avatars/${tutor.avatar_id}/preview`).then((url) => { image.src = url; }).catch(() => {});
    rows.append(el("tr", {}, el("td", {}, image),
      el("td", {}, el("strong", {}, tutor.name), el("div", { class: "muted" }, tutor.description)),
      el("td", {}, el("button", { onclick: () => startLive(tutor) }, "Talk"), " ",
        el("button", { class: "secondary", onclick: () => openChat(tutor) }, "Chat"))));
  }
}

async function startLive(tutor) {
  $("start-error").textContent = "";
  try {
    live = await Api.call("POST", `/api/tutors/${tutor.id}/sessions`);
    $("live-title").textContent = `Live with ${tutor.name}`;
    $("live-link").href = live.student_page_url;
    $("live-frame").src = live.student_page_url;
    $("live").classList.remove("hidden");
  } catch (error) { $("start-error").textContent = error.message; }
}

$("end-session").addEventListener("click", async () => {
  if (!live) return;
  try { await Api.call("POST", `/api/sessions/${live.session.id}/end`); } catch { /* already over */ }
  $("live-frame").src = "about:blank";
  $("live").classList.add("hidden");
  live = null;
});

function openChat(tutor) {
  chat = { tutor, sessionId: null };
  $("chat-title").textContent = `Chat with ${tutor.name}`;
  $("chat-log").replaceChildren();
  $("chat").classList.remove("hidden");
}

$("chat-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("chat-text").value;
  $("chat-text").value = "";
  $("chat-error").textContent = "";
  $("chat-log").append(el("div", { class: "turn" }, el("span", { class: "who" }, "You: "), text));
  const answer = el("span");
  $("chat-log").append(el("div", { class: "turn" }, el("span", { class: "who" }, `${chat.tutor.name}: `), answer));
  try {
    const response = await Api.call("POST", `/api/tutors/${chat.tutor.id}/chat/stream`,
      { text, session_id: chat.sessionId }, { raw: true });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const kind = /^event: (.*)$/m.exec(block)?.[1];
        const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] || "null");
        if (kind === "session") chat.sessionId = data.session_id;
        else if (kind === "delta") answer.textContent += data.text;
        else if (kind === "turn") answer.textContent = data.assistant_text;
        else if (kind === "error") $("chat-error").textContent = data.detail;
      }
    }
  } catch (error) { $("chat-error").textContent = error.message; }
});

if (Api.token()) start(); else showApp(false);
