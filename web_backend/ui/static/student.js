// The student page: pick a tutor, talk live on the rtc_edge's page, or chat by text here.
"use strict";

const $ = (id) => document.getElementById(id);
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
  const tutors = await Api.call("GET", "/api/student/tutors");
  $("no-tutors").classList.toggle("hidden", tutors.length > 0);
  for (const tutor of tutors) {
    const image = el("img", { class: "avatar-preview", alt: tutor.name });
    if (tutor.avatar_id) Api.imageUrl(`/api/avatars/${tutor.avatar_id}/preview`).then((url) => { image.src = url; }).catch(() => {});
    rows.append(el("tr", {}, el("td", {}, image),
      el("td", {}, el("strong", {}, tutor.name), el("div", { class: "muted" }, tutor.description)),
      el("td", {}, el("button", { onclick: () => startLive(tutor) }, "Talk"), " ",
        el("button", { class: "secondary", onclick: () => openChat(tutor) }, "Chat"))));
  }
}

// The live tutor runs on its own page on the media edge; the session id and token travel in
// the fragment of its URL, which is never sent to a server.
async function startLive(tutor) {
  $("start-error").textContent = "";
  try {
    const live = await Api.call("POST", `/api/tutors/${tutor.id}/sessions`);
    location.assign(live.student_page_url);
  } catch (error) { $("start-error").textContent = error.message; }
}

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
        else if (kind === "error") $("chat-error").textContent = Api.clean(data.detail);
      }
    }
  } catch (error) { $("chat-error").textContent = error.message; }
});

if (Api.token()) start(); else showApp(false);
