// Where a join link lands: /join#<secret>. The secret never leaves the browser in a URL: it
// is posted in a request body, and dropped from the address bar and history at once. The
// backend opens a live session and answers the student page to go to (on the media edge),
// where one click starts the conversation.
"use strict";

const $ = (id) => document.getElementById(id);

function fail(message) {
  $("join-title").textContent = "This link did not work";
  $("join-status").textContent = "Ask whoever sent it for a new one.";
  $("join-error").textContent = message;
}

async function joinFromLink() {
  const secret = decodeURIComponent(location.hash.slice(1));
  history.replaceState(null, "", location.pathname);
  if (!secret) {
    fail("The link is incomplete: it should end with # and a long code. Copy the whole link.");
    return;
  }
  let response;
  try {
    response = await fetch("/api/join", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ secret }),
    });
  } catch {
    fail("The tutor service cannot be reached. Check your connection and open the link again.");
    return;
  }
  let data = null;
  try { data = await response.json(); } catch { /* not JSON */ }
  if (!response.ok) {
    const detail = data && typeof data.detail === "string" ? data.detail : "";
    if (response.status === 401 || response.status === 404) fail(detail || "This link is not valid.");
    else if (response.status === 503) fail("The tutor is not available right now. Try again in a minute.");
    else fail(`Something went wrong on our side (${response.status}). Try again in a minute.`);
    return;
  }
  $("join-title").textContent = `Opening ${data.tutor_name}…`;
  $("join-status").textContent = "One moment.";
  location.replace(data.student_page_url);
}

joinFromLink();
