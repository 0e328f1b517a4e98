// The admin page: tutors (with avatar creation progress), knowledge, students, sessions.
"use strict";

const $ = (id) => document.getElementById(id);
let tutors = [];

function showApp(loggedIn) {
  $("login").classList.toggle("hidden", loggedIn);
  $("app").classList.toggle("hidden", !loggedIn);
  $("logout").classList.toggle("hidden", !loggedIn);
  if (!loggedIn) $("who").textContent = "";
}

async function start() {
  try {
    const me = await Api.call("GET", "/api/auth/me");
    if (me.role !== "admin") throw new Error("this page is for admins");
    $("who").textContent = me.email;
    showApp(true);
    await Promise.all([loadTutors(), loadStudents(), loadSessions(), loadCatalog()]);
  } catch (error) {
    Api.setToken(null);
    showApp(false);
  }
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    const token = await Api.login($("login-email").value, $("login-password").value);
    if (token.role !== "admin") { Api.setToken(null); throw new Error("students log in at /student"); }
    await start();
  } catch (error) { $("login-error").textContent = error.message; }
});
$("logout").addEventListener("click", () => { Api.setToken(null); showApp(false); });
window.addEventListener("vtutor:logged-out", () => showApp(false));

document.querySelectorAll("nav.tabs button").forEach((button) => button.addEventListener("click", () => {
  document.querySelectorAll("nav.tabs button").forEach((b) => b.classList.toggle("active", b === button));
  document.querySelectorAll("[data-panel]").forEach((panel) =>
    panel.classList.toggle("hidden", panel.dataset.panel !== button.dataset.tab));
  if (button.dataset.tab === "sessions") loadSessions();
  if (button.dataset.tab === "documents") loadDocuments();
}));

async function loadCatalog() {
  try {
    const catalog = await Api.call("GET", "/api/catalog");
    for (const voice of catalog.voices) $("tutor-voice").append(el("option", { value: voice.name }, voice.display_name || voice.name));
    for (const model of catalog.models) $("tutor-model").append(el("option", { value: model.name }, model.name));
  } catch { /* the gateway may be down: the defaults still work */ }
}

async function loadTutors() {
  tutors = await Api.call("GET", "/api/tutors");
  const rows = $("tutor-rows");
  rows.replaceChildren();
  for (const tutor of tutors) {
    const image = el("img", { class: "avatar-preview", alt: `${tutor.name} preview`, "data-tutor": tutor.id });
    if (tutor.avatar_id) Api.imageUrl(`/api/avatars/${tutor.avatar_id}/preview`).then((url) => { image.src = url; }).catch(() => {});
    rows.append(el("tr", {}, el("td", {}, image), el("td", {}, tutor.name, el("div", { class: "muted" }, tutor.description)),
      el("td", {}, tutor.language_code), el("td", {}, tutor.voice || "default"),
      el("td", {}, el("button", { class: "secondary", onclick: () => deleteTutor(tutor) }, "Delete"))));
  }
  const select = $("doc-tutor");
  const chosen = select.value;
  select.replaceChildren(...tutors.map((t) => el("option", { value: t.id }, t.name)));
  if (chosen) select.value = chosen;
}

async function deleteTutor(tutor) {
  if (!confirm(`Delete ${tutor.name}?`)) return;
  await Api.call("DELETE", `/api/tutors/${tutor.id}`);
  await loadTutors();
}

$("create-tutor-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("create-error").textContent = "";
  const form = new FormData(event.target);
  if (!form.get("voice_sample")?.size) form.delete("voice_sample");
  $("create-submit").disabled = true;
  $("job").classList.remove("hidden");
  setJob({ state: "uploading", percent: 0, message: "" });
  try {
    let job = await Api.call("POST", "/api/tutors/create-with-avatar", form);
    while (job.state === "pending" || job.state === "running") {
      setJob(job);
      await new Promise((resolve) => setTimeout(resolve, 500));
      job = await Api.call("GET", `/api/avatar-jobs/${job.id}`);
    }
    setJob(job);
    if (job.state === "failed") throw new Error(job.error || "avatar creation failed");
    event.target.reset();
    await loadTutors();
  } catch (error) {
    $("create-error").textContent = error.message;
  } finally {
    $("create-submit").disabled = false;
  }
});

function setJob(job) {
  $("job-status").textContent = job.state === "running" ? (job.stage || "running").replaceAll("_", " ") : job.state;
  $("job-message").textContent = job.message || "";
  $("job-progress").value = job.percent || 0;
}

async function loadDocuments() {
  const tutorId = $("doc-tutor").value;
  const rows = $("doc-rows");
  rows.replaceChildren();
  if (!tutorId) return;
  for (const doc of await Api.call("GET", `/api/tutors/${tutorId}/documents`)) {
    rows.append(el("tr", {}, el("td", {}, doc.title), el("td", {}, doc.content_type), el("td", {}, String(doc.characters)),
      el("td", {}, el("button", { class: "secondary", onclick: async () => {
        await Api.call("DELETE", `/api/tutors/${tutorId}/documents/${doc.id}`); await loadDocuments();
      } }, "Delete"))));
  }
}
$("doc-tutor").addEventListener("change", loadDocuments);
$("doc-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("doc-error").textContent = "";
  const form = new FormData();
  for (const file of $("doc-files").files) form.append("files", file);
  try {
    const result = await Api.call("POST", `/api/tutors/${$("doc-tutor").value}/documents`, form);
    $("doc-summary").textContent = `${result.document_count} documents, ${result.passage_count} passages indexed`;
    event.target.reset();
    await loadDocuments();
  } catch (error) { $("doc-error").textContent = error.message; }
});

async function loadStudents() {
  const rows = $("student-rows");
  rows.replaceChildren();
  for (const student of await Api.call("GET", "/api/students")) {
    rows.append(el("tr", {}, el("td", {}, student.email), el("td", {}, student.full_name), el("td", {}, student.is_active ? "yes" : "no"),
      el("td", {}, el("button", { class: "secondary", onclick: async () => {
        if (confirm(`Delete ${student.email}?`)) { await Api.call("DELETE", `/api/students/${student.id}`); await loadStudents(); }
      } }, "Delete"))));
  }
}
$("student-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("student-error").textContent = "";
  try {
    await Api.call("POST", "/api/students", {
      email: $("student-email").value, full_name: $("student-name").value, password: $("student-password").value,
    });
    event.target.reset();
    await loadStudents();
  } catch (error) { $("student-error").textContent = error.message; }
});

async function loadSessions() {
  const names = Object.fromEntries(tutors.map((t) => [t.id, t.name]));
  const rows = $("session-rows");
  rows.replaceChildren();
  for (const session of await Api.call("GET", "/api/sessions")) {
    rows.append(el("tr", {}, el("td", {}, new Date(session.created_at).toLocaleString()), el("td", {}, session.kind),
      el("td", {}, session.state), el("td", {}, names[session.tutor_id] || session.tutor_id),
      el("td", {}, el("button", { class: "secondary", onclick: () => showTranscript(session.id) }, "Transcript"))));
  }
}

async function showTranscript(sessionId) {
  const detail = await Api.call("GET", `/api/sessions/${sessionId}`);
  const box = $("transcript");
  box.replaceChildren();
  if (!detail.turns.length) box.append(el("p", { class: "muted" }, "No turns yet."));
  for (const turn of detail.turns) {
    const latency = Object.entries(turn.latency_ms).map(([k, v]) => `${k} ${v} ms`).join(" · ");
    box.append(el("div", { class: "turn" },
      el("div", {}, el("span", { class: "who" }, "Student: "), turn.user_text),
      el("div", {}, el("span", { class: "who" }, "Tutor: "), turn.assistant_text + (turn.interrupted ? " [interrupted]" : "")),
      el("div", { class: "muted" }, latency)));
  }
  $("transcript-card").classList.remove("hidden");
}

if (Api.token()) start(); else showApp(false);
