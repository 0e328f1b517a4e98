// The admin page: tutors (create, edit, avatar progress), knowledge, students and their join
// links, sessions.
"use strict";

const $ = (id) => document.getElementById(id);
let tutors = [];
let students = [];
let editing = null;

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
  } catch (error) {
    Api.setToken(null);
    showApp(false);
    return;
  }
  await Promise.all([loadTutors(), loadStudents(), loadSessions(), loadCatalog(), loadAvatars()]);
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    const token = await Api.login($("login-email").value, $("login-password").value);
    if (token.role !== "admin") { Api.setToken(null); throw new Error("Students log in at /student."); }
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

function plural(count, one, many) { return `${count} ${count === 1 ? one : many}`; }

// Tutors --------------------------------------------------------------------------------------

async function loadCatalog() {
  let catalog;
  try { catalog = await Api.call("GET", "/api/catalog"); } catch { return; /* the defaults still work */ }
  for (const select of document.querySelectorAll("select[data-catalog=voices]")) {
    for (const voice of catalog.voices) select.append(el("option", { value: voice.name }, voice.display_name || voice.name));
  }
  for (const select of document.querySelectorAll("select[data-catalog=models]")) {
    for (const model of catalog.models) select.append(el("option", { value: model.name }, model.name));
  }
}

async function loadAvatars() {
  const select = $("edit-avatar");
  select.replaceChildren(el("option", { value: "" }, "The drawn default avatar"));
  for (const avatar of await Api.call("GET", "/api/avatars")) {
    select.append(el("option", { value: avatar.id }, avatar.display_name || avatar.avatar_key));
  }
}

function knowledgeOf(tutor) {
  return tutor.uses_builtin_knowledge ? "Built-in demo notes" : "Its documents";
}

async function loadTutors() {
  tutors = await Api.call("GET", "/api/tutors");
  const rows = $("tutor-rows");
  rows.replaceChildren();
  $("no-tutors").classList.toggle("hidden", tutors.length > 0);
  for (const tutor of tutors) {
    // Without an avatar of its own the tutor shows the lip-sync service's drawn default.
    const image = tutor.avatar_id
      ? el("img", { class: "avatar-preview", alt: `${tutor.name} preview`, "data-tutor": tutor.id })
      : el("div", { class: "avatar-preview default-avatar" }, "Drawn avatar");
    if (tutor.avatar_id) Api.imageUrl(`/api/avatars/${tutor.avatar_id}/preview`).then((url) => { image.src = url; }).catch(() => {});
    rows.append(el("tr", { "data-tutor-row": tutor.id }, el("td", {}, image),
      el("td", {}, el("strong", {}, tutor.name), el("div", { class: "muted" }, tutor.description)),
      el("td", {}, tutor.voice || "Default"), el("td", {}, knowledgeOf(tutor)),
      el("td", { class: "actions" },
        el("button", { class: "secondary", onclick: () => editTutor(tutor) }, "Edit"),
        el("button", { class: "secondary", onclick: () => linkFor({ tutorId: tutor.id }) }, "Join link"),
        el("button", { class: "secondary", onclick: () => deleteTutor(tutor) }, "Delete"))));
  }
  fillSelect($("doc-tutor"), tutors, (t) => t.name);
  fillSelect($("link-tutor"), tutors, (t) => t.name);
  updateLinkForm();
  updateDocumentsTab();
}

function fillSelect(select, items, label) {
  const chosen = select.value;
  select.replaceChildren(...items.map((item) => el("option", { value: item.id }, label(item))));
  if (items.some((item) => item.id === chosen)) select.value = chosen;
}

async function deleteTutor(tutor) {
  if (!confirm(`Delete ${tutor.name}? Its sessions and documents go too.`)) return;
  $("tutor-error").textContent = "";
  try {
    await Api.call("DELETE", `/api/tutors/${tutor.id}`);
    if (editing && editing.id === tutor.id) closeEditor();
    await loadTutors();
  } catch (error) { $("tutor-error").textContent = `${tutor.name} could not be deleted: ${error.message}`; }
}

function editTutor(tutor) {
  editing = tutor;
  $("edit-title").textContent = `Edit ${tutor.name}`;
  $("edit-name").value = tutor.name;
  $("edit-language").value = tutor.language_code;
  $("edit-description").value = tutor.description;
  $("edit-prompt").value = tutor.system_prompt;
  ensureOption($("edit-voice"), tutor.voice);
  ensureOption($("edit-model"), tutor.llm_model);
  ensureOption($("edit-avatar"), tutor.avatar_id || "", tutor.avatar ? tutor.avatar.display_name : "");
  $("edit-video").checked = tutor.video_enabled;
  $("edit-error").textContent = "";
  $("edit-card").classList.remove("hidden");
  $("edit-name").focus();
}

// A value the catalog no longer lists (the gateway is down, a model was removed) stays
// selectable, so saving an unrelated change does not silently reset it.
function ensureOption(select, value, label) {
  if (![...select.options].some((option) => option.value === value)) {
    select.append(el("option", { value }, label || value));
  }
  select.value = value;
}

// The saved tutor's avatar saying a greeting in its voice: a bad mouth or voice shows here
// before students see it.
async function showTalkingSample() {
  if (!editing) return;
  const video = $("talk-video");
  $("edit-error").textContent = "";
  $("talk-status").classList.remove("hidden");
  try {
    video.src = await Api.imageUrl(`/api/tutors/${editing.id}/talking-preview`);
    video.classList.remove("hidden");
    video.play().catch(() => {});
  } catch (error) {
    $("edit-error").textContent = `The talking sample could not be made: ${error.message}`;
  } finally { $("talk-status").classList.add("hidden"); }
}
$("edit-hear").addEventListener("click", showTalkingSample);

function closeEditor() {
  $("talk-video").classList.add("hidden");
  $("talk-video").removeAttribute("src");
  editing = null;
  $("edit-card").classList.add("hidden");
}

$("edit-cancel").addEventListener("click", closeEditor);
$("edit-tutor-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!editing) return;
  $("edit-error").textContent = "";
  $("edit-submit").disabled = true;
  try {
    await Api.call("PATCH", `/api/tutors/${editing.id}`, {
      name: $("edit-name").value.trim(),
      language_code: $("edit-language").value.trim(),
      description: $("edit-description").value,
      system_prompt: $("edit-prompt").value,
      voice: $("edit-voice").value,
      llm_model: $("edit-model").value,
      avatar_id: $("edit-avatar").value || null,
      video_enabled: $("edit-video").checked,
    });
    closeEditor();
    await loadTutors();
  } catch (error) {
    $("edit-error").textContent = error.message;
  } finally {
    $("edit-submit").disabled = false;
  }
});

$("create-tutor-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("create-error").textContent = "";
  const form = new FormData(event.target);
  $("create-submit").disabled = true;
  try {
    if (form.get("avatar_video")?.size) await createWithAvatar(form);
    else await createWithoutAvatar(form);
    event.target.reset();
    await loadTutors();
  } catch (error) {
    $("create-error").textContent = error.message;
  } finally {
    $("create-submit").disabled = false;
  }
});

async function createWithoutAvatar(form) {
  $("job").classList.add("hidden");
  await Api.call("POST", "/api/tutors", {
    name: form.get("name"), description: form.get("description"), language_code: form.get("language_code"),
    system_prompt: form.get("system_prompt"), voice: form.get("voice"), llm_model: form.get("llm_model"),
  });
}

async function createWithAvatar(form) {
  $("job").classList.remove("hidden");
  setJob({ state: "uploading", percent: 0, message: "" });
  let job = await Api.call("POST", "/api/tutors/create-with-avatar", form);
  while (job.state === "pending" || job.state === "running") {
    setJob(job);
    await new Promise((resolve) => setTimeout(resolve, 500));
    job = await Api.call("GET", `/api/avatar-jobs/${job.id}`);
  }
  setJob(job);
  if (job.state === "failed") throw new Error(`The tutor was not created: ${Api.clean(job.error) || "the avatar could not be made"}.`);
  await loadAvatars();
}

function setJob(job) {
  $("job-status").textContent = job.state === "running" ? (job.stage || "running").replaceAll("_", " ") : job.state;
  // A finished job's state says it all (its message would repeat it); the error shows below.
  const message = job.state === "running" || job.state === "pending" ? Api.clean(job.message || "") : "";
  $("job-message").textContent = message === job.state ? "" : message;
  $("job-progress").value = job.percent || 0;
}

// Knowledge -----------------------------------------------------------------------------------

function updateDocumentsTab() {
  $("doc-no-tutors").classList.toggle("hidden", tutors.length > 0);
  $("doc-body").classList.toggle("hidden", tutors.length === 0);
}

async function loadDocuments() {
  updateDocumentsTab();
  const tutor = tutors.find((t) => t.id === $("doc-tutor").value);
  const rows = $("doc-rows");
  rows.replaceChildren();
  $("doc-summary").textContent = "";
  $("no-docs").classList.add("hidden");
  if (!tutor) return;
  $("doc-builtin").classList.toggle("hidden", !tutor.uses_builtin_knowledge);
  $("doc-form").classList.toggle("hidden", tutor.uses_builtin_knowledge);
  $("doc-table").classList.toggle("hidden", tutor.uses_builtin_knowledge);
  if (tutor.uses_builtin_knowledge) return;
  const documents = await Api.call("GET", `/api/tutors/${tutor.id}/documents`);
  $("no-docs").classList.toggle("hidden", documents.length > 0);
  for (const doc of documents) {
    rows.append(el("tr", {}, el("td", {}, doc.title), el("td", {}, doc.content_type), el("td", {}, doc.characters.toLocaleString()),
      el("td", {}, el("button", { class: "secondary", onclick: async () => {
        $("doc-error").textContent = "";
        try { await Api.call("DELETE", `/api/tutors/${tutor.id}/documents/${doc.id}`); }
        catch (error) { $("doc-error").textContent = `${doc.title} could not be removed: ${error.message}`; }
        await loadDocuments();
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
    event.target.reset();
    await loadDocuments();
    $("doc-summary").textContent = `Indexed: ${plural(result.document_count, "document", "documents")}, ${plural(result.passage_count, "passage", "passages")} in this tutor's knowledge.`;
  } catch (error) { $("doc-error").textContent = error.message; }
});

// Students and join links ---------------------------------------------------------------------

async function loadStudents() {
  students = await Api.call("GET", "/api/students");
  const rows = $("student-rows");
  rows.replaceChildren();
  $("no-students").classList.toggle("hidden", students.length > 0);
  for (const student of students) {
    rows.append(el("tr", {}, el("td", {}, student.email), el("td", {}, student.full_name), el("td", {}, student.is_active ? "Yes" : "No"),
      el("td", { class: "actions" },
        el("button", { class: "secondary", onclick: () => linkFor({ studentId: student.id }) }, "Join link"),
        el("button", { class: "secondary", onclick: async () => {
          if (!confirm(`Delete ${student.email}? Their join links stop working.`)) return;
          $("student-error").textContent = "";
          try { await Api.call("DELETE", `/api/students/${student.id}`); }
          catch (error) { $("student-error").textContent = error.message; }
          await loadStudents();
        } }, "Delete"))));
  }
  fillSelect($("link-student"), students, (s) => s.full_name ? `${s.full_name} (${s.email})` : s.email);
  updateLinkForm();
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

function updateLinkForm() {
  const ready = students.length > 0 && tutors.length > 0;
  $("link-missing").classList.toggle("hidden", ready);
  $("link-form").classList.toggle("hidden", !ready);
  $("link-make").classList.toggle("hidden", !ready);
}

// From a tutor's or a student's row: preselect it on the Students tab.
function linkFor({ tutorId, studentId }) {
  document.querySelector('nav.tabs button[data-tab="students"]').click();
  if (tutorId) $("link-tutor").value = tutorId;
  if (studentId) $("link-student").value = studentId;
  $("link-result").classList.add("hidden");
  $("link-form").scrollIntoView({ block: "center" });
}

$("link-make").addEventListener("click", async () => {
  $("link-error").textContent = "";
  $("link-copied").textContent = "";
  try {
    const link = await Api.call("POST", "/api/join-links", {
      student_id: $("link-student").value, tutor_id: $("link-tutor").value,
    });
    $("link-url").value = link.url;
    $("link-expiry").textContent = new Date(link.expires_at).toLocaleString();
    $("link-qr").src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(link.qr_svg)}`;
    $("link-result").classList.remove("hidden");
  } catch (error) { $("link-error").textContent = error.message; }
});
$("link-copy").addEventListener("click", async () => {
  const url = $("link-url").value;
  try { await navigator.clipboard.writeText(url); }
  catch { $("link-url").select(); document.execCommand("copy"); }
  $("link-copied").textContent = "Copied. Anyone with this link can talk to the tutor as this student until it expires.";
});

// Sessions ------------------------------------------------------------------------------------

async function loadSessions() {
  const names = Object.fromEntries(tutors.map((t) => [t.id, t.name]));
  const rows = $("session-rows");
  rows.replaceChildren();
  const sessions = await Api.call("GET", "/api/sessions");
  $("no-sessions").classList.toggle("hidden", sessions.length > 0);
  for (const session of sessions) {
    rows.append(el("tr", {}, el("td", {}, new Date(session.created_at).toLocaleString()),
      el("td", {}, session.kind === "live" ? "Live" : "Chat"), el("td", {}, session.state === "ended" ? "Ended" : "Open"),
      el("td", {}, names[session.tutor_id] || "(deleted tutor)"),
      el("td", {}, el("button", { class: "secondary", onclick: () => showTranscript(session.id) }, "Transcript"))));
  }
}

function turnNote(turn) {
  if (turn.outcome === "interrupted" || turn.interrupted) return " (interrupted)";
  if (turn.outcome === "failed" || turn.failed) return " (no answer: something went wrong)";
  return "";
}

async function showTranscript(sessionId) {
  const detail = await Api.call("GET", `/api/sessions/${sessionId}`);
  const box = $("transcript");
  box.replaceChildren();
  if (!detail.turns.length) box.append(el("p", { class: "muted" }, "Nothing was said in this session."));
  for (const turn of detail.turns) {
    const latency = Object.entries(turn.latency_ms).map(([k, v]) => `${k.replaceAll("_", " ")} ${v} ms`).join(" · ");
    box.append(el("div", { class: "turn" },
      el("div", {}, el("span", { class: "who" }, "Student: "), turn.user_text),
      el("div", {}, el("span", { class: "who" }, "Tutor: "), turn.assistant_text + turnNote(turn)),
      el("div", { class: "muted", title: turn.failure_message || "" }, latency)));
  }
  $("transcript-card").classList.remove("hidden");
}

if (Api.token()) start(); else showApp(false);
