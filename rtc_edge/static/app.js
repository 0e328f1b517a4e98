// The student page: joins a tutor session over WebRTC (relayed through TURN when the edge says
// so), shows the tutor's video and captions, and sends typed questions and interrupts.
//
// A student arrives from a join link with the session id and engine token in the URL fragment
// (#session_id=...&token=...&tutor=...), which browsers never send to a server. The page keeps
// them for this tab only (a reload still works), drops them from the address bar, and shows
// one button: the click is the user gesture browsers require for the microphone and sound.
"use strict";

const $ = (id) => document.getElementById(id);
const ICE_GATHER_TIMEOUT_MS = 8000;
const STORED = "vtutor.session";

// Exposed for the tests and for debugging in the console.
const vt = { pc: null, channel: null, sessionId: "", token: "", messages: [], state: "idle" };
window.vt = vt;

function setStatus(text) {
  vt.state = text;
  $("status").textContent = text;
}

function showError(text) {
  const box = $("error");
  box.textContent = text;
  box.hidden = !text;
}

// The link's credentials: the fragment (or, from older links, the query), else what this tab
// kept from its link before a reload.
function credentialsFromUrl() {
  const params = new URLSearchParams(location.hash.slice(1) || location.search.slice(1));
  const found = {
    sessionId: params.get("session_id") || "",
    token: params.get("token") || "",
    tutor: params.get("tutor") || "",
  };
  if (found.sessionId && found.token) {
    try { sessionStorage.setItem(STORED, JSON.stringify(found)); } catch (_) { /* private mode */ }
    history.replaceState(null, "", location.pathname);
    return found;
  }
  try {
    const kept = JSON.parse(sessionStorage.getItem(STORED) || "null");
    if (kept && kept.sessionId && kept.token) return kept;
  } catch (_) { /* nothing kept */ }
  return { sessionId: "", token: "", tutor: "" };
}

function authHeaders() {
  return { Authorization: `Bearer ${vt.token}` };
}

async function explain(response) {
  let detail = "";
  try { detail = (await response.json()).error || ""; } catch (_) { /* not JSON */ }
  switch (response.status) {
    case 401: return "This session link is not valid or has expired. Ask for a new one.";
    case 409: return "This session is already open in another window.";
    case 503: return "The tutor is busy right now. Try again in a moment.";
    default: return `The tutor could not be reached (${response.status}${detail ? ": " + detail : ""}).`;
  }
}

async function openMicrophone() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    $("mic").textContent = "This browser cannot use a microphone here: type your questions.";
    return null;
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    $("mic").textContent = "Microphone on: just speak.";
    return stream.getAudioTracks()[0];
  } catch (error) {
    $("mic").textContent = `Microphone blocked (${error.name}): you can still type your questions.`;
    return null;
  }
}

function waitForIceGathering(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ICE_GATHER_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
    });
  });
}

// An interrupted answer stops at once: the edge drops what it had queued, and muting drops
// what the browser's own audio buffer still holds (100-200 ms). The next answer unmutes.
function silenceTutor() {
  $("tutor-video").muted = true;
}

// Sound and picture in step ---------------------------------------------------------------
// The edge sends a turn's first frame and first sound on the same tick. The browser then holds
// audio in its jitter buffer (tens of ms, 100-600 on a busy machine) and plays it through the
// audio device (another 10-40 ms) while video waits far less, so the picture would show ahead
// of its sound. Chromium lines them up by the RTCP sender reports, but only after a few
// reports and then at most ~80 ms a second, and it leaves anything under 30 ms: a first answer
// seconds after joining started with the mouth moving 100-400 ms before the voice. So the
// page holds the video itself (the video receiver's jitterBufferTarget), four times a second:
// - by as long as the audio waits now: its jitter buffer's delay plus the device's playout
//   delay (getStats), without what Chromium's own sync added to the audio (holding by that
//   too would let the two ratchet each other up). Between turns the edge sends Opus DTX, a
//   packet every 400 ms: the jitter buffer keeps its playout point through the silence and
//   starts the next answer where those packets waited, unless that is well over its target
//   delay, when it skips ahead to the target (WebRTC NetEq's comfort-noise fast-forward).
//   So the video is held halfway between the two then (the first answer after a long
//   silence started 52-56 ms into a jitter buffer that aimed at 20 and whose DTX packets
//   had waited 54-73);
// - corrected by what is still left between them once the video has settled on that hold,
//   measured on this page: how long after its last packet arrived each frame is shown
//   (requestVideoFrameCallback's receiveTime and expectedDisplayTime) against how long after
//   arriving the audio is heard. A frame is not shown at exactly the delay the video is held
//   for: WebRTC hands it over ahead of its render time (by its decode-time estimate and a
//   10 ms render delay) and it then waits for a vsync. Chromium's own playout estimates take
//   a frame as shown at its render time, 14-26 ms after it was shown on a 2-core machine, so
//   correcting by them left the sound that much behind. A slow correction within
//   +-MAX_CORRECTION_MS that fades while the video's own jitter keeps it off the hold.
const SYNC_EVERY_MS = 250;
const SYNC_STEP_MS = 10; // smaller changes are not worth moving the video's playout for
const MAX_VIDEO_HOLD_MS = 2000;
const CORRECTION_GAIN = 0.35;
const MAX_CORRECTION_MS = 100;
const UNSETTLED_DECAY = 0.8;
const SETTLED_MS = 15; // the video's target is this close to the hold: it has caught up
const MIN_FRAMES = 3; // frames shown in a sync period for its gap to count
const DTX_SHARE = 0.5; // of 48 kHz decoded from packets: less is DTX (the tutor is silent)

function delayCounters(report) {
  const now = { at: performance.now(), audio: null, aim: null, video: null, device: null };
  report.forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "audio") {
      const count = r.jitterBufferEmittedCount || 0;
      const minimum = r.jitterBufferMinimumDelay || r.jitterBufferTargetDelay || 0;
      // Held in the jitter buffer, less what A/V sync or a jitterBufferTarget asked for.
      now.audio = { delay: (r.jitterBufferDelay || 0) - (r.jitterBufferTargetDelay || 0) + minimum,
                    count };
      now.aim = { delay: minimum, count }; // what the jitter buffer aims at, sync apart
    } else if (r.type === "inbound-rtp" && r.kind === "video") {
      now.video = { delay: r.jitterBufferTargetDelay || 0, count: r.jitterBufferEmittedCount || 0 };
    } else if (r.type === "media-playout") {
      now.device = { delay: r.totalPlayoutDelay || 0, count: r.totalSamplesCount || 0 };
    }
  });
  return now;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

// How long after its last packet arrived each tutor frame is shown (ms), as they are shown.
function watchFrameDelays(pc, shown) {
  const video = $("tutor-video");
  if (!("requestVideoFrameCallback" in video)) return false;
  const step = (_now, meta) => {
    if (vt.pc !== pc) return;
    if (meta.receiveTime && meta.expectedDisplayTime) {
      shown.push(meta.expectedDisplayTime - meta.receiveTime);
    }
    video.requestVideoFrameCallback(step);
  };
  video.requestVideoFrameCallback(step);
  return true;
}

function holdVideoWithAudio(pc) {
  let last = null;
  let target = null;
  let correction = 0;
  const gaps = [];
  const quiet = []; // the audio's delay in the last few DTX packets
  const shown = [];
  const measured = watchFrameDelays(pc, shown);
  const perSampleMs = (a, b) =>
    (a && b && a.count > b.count ? (1000 * (a.delay - b.delay)) / (a.count - b.count) : null);
  const timer = setInterval(async () => {
    if (vt.pc !== pc) { clearInterval(timer); return; }
    const video = pc.getReceivers().find((r) => r.track && r.track.kind === "video");
    if (!video || !("jitterBufferTarget" in video)) { clearInterval(timer); return; }
    let report;
    try { report = await pc.getStats(); } catch (_) { return; }
    const now = delayCounters(report);
    const frames = shown.splice(0);
    const before = last;
    last = now;
    if (!before) return;
    let audioMs = perSampleMs(now.audio, before.audio);
    if (audioMs === null) return;
    // Fewer samples played out of packets than time went by: DTX, the tutor is silent (see
    // above). One DTX packet's wait is noisy (10-150 ms on a busy machine): their median.
    if (now.audio.count - before.audio.count < DTX_SHARE * 48 * (now.at - before.at)) {
      quiet.push(audioMs);
      if (quiet.length > 3) quiet.shift();
      audioMs = (median(quiet) + perSampleMs(now.aim, before.aim)) / 2;
    } else {
      quiet.length = 0;
    }
    const deviceMs = perSampleMs(now.device, before.device) || 0;
    const videoMs = perSampleMs(now.video, before.video);
    if (measured && frames.length >= MIN_FRAMES) {
      // How much later the sound is heard than its picture shows (both from arrival).
      const gap = audioMs + deviceMs - median(frames);
      const settled = target !== null && videoMs !== null && Math.abs(videoMs - target) <= SETTLED_MS;
      if (settled) {
        gaps.push(gap);
        if (gaps.length > 3) gaps.shift();
      }
      if (settled && gaps.length === 3) {
        correction = Math.max(-MAX_CORRECTION_MS,
                              Math.min(MAX_CORRECTION_MS, correction + CORRECTION_GAIN * median(gaps)));
      } else if (!settled) {
        correction *= UNSETTLED_DECAY; // the video runs on its own jitter: no correction piles up
      }
      vt.avGapMs = Math.round(gap);
    }
    const hold = Math.min(MAX_VIDEO_HOLD_MS, Math.max(0, Math.round(audioMs + deviceMs + correction)));
    if (target === null || Math.abs(hold - target) >= SYNC_STEP_MS) {
      target = hold;
      try { video.jitterBufferTarget = target; } catch (_) { /* out of range */ }
    }
    vt.videoHoldMs = target;
    vt.videoHoldCorrectionMs = Math.round(correction);
  }, SYNC_EVERY_MS);
}

// Captions --------------------------------------------------------------------------------
const tutorLines = new Map();

function tutorLine(turnId) {
  let line = tutorLines.get(turnId);
  if (!line) {
    line = document.createElement("p");
    line.className = "tutor";
    line.dataset.turnId = turnId;
    $("tutor-captions").appendChild(line);
    tutorLines.set(turnId, line);
    while ($("tutor-captions").children.length > 4) $("tutor-captions").firstChild.remove();
  }
  return line;
}

function onMessage(event) {
  let message;
  try { message = JSON.parse(event.data); } catch (_) { return; }
  vt.messages.push(message);
  switch (message.type) {
    case "transcript": {
      const caption = $("student-caption");
      caption.textContent = `You: ${message.text}`;
      caption.classList.toggle("interim", !message.final);
      break;
    }
    case "assistant_text":
      tutorLine(message.turn_id).textContent += message.delta;
      break;
    case "turn":
      if (message.event === "interrupted" || message.event === "failed") {
        tutorLine(message.turn_id).classList.add("interrupted");
        silenceTutor();
      }
      break;
    case "playback":
      $("speaking").textContent = message.state === "speaking" ? "Tutor is speaking" : "Listening";
      // The next answer's first frame is on its way; its sound is still in the jitter buffer.
      if (message.state === "speaking") $("tutor-video").muted = false;
      break;
    case "error":
      // The details are for developers (console); the student gets a sentence.
      console.warn("tutor error", message.stage, message.code, message.message);
      showError(problemSentence(message.stage));
      break;
  }
}

const STAGE_WORDS = {
  asr: "hearing what you said",
  llm: "thinking of an answer",
  tts: "speaking the answer",
  lipsync: "showing the video",
};

function problemSentence(stage) {
  const what = STAGE_WORDS[stage];
  return what
    ? `The tutor had a problem ${what}. Try asking again.`
    : "The tutor had a problem. Try asking again.";
}

// Connection ------------------------------------------------------------------------------
function setConnectedControls(connected) {
  for (const id of ["text", "send", "interrupt", "leave"]) $(id).disabled = !connected;
  $("join").disabled = connected;
  $("manual-join").disabled = connected;
  if (connected) {
    $("welcome").textContent = `You are talking with ${initial.tutor || "your tutor"}: speak, or type below.`;
    $("join").hidden = true;
    $("start-hint").hidden = true;
  }
}

async function join(event) {
  event.preventDefault();
  showError("");
  vt.sessionId = $("session-id").value.trim();
  vt.token = $("token").value.trim();
  if (!vt.sessionId || !vt.token) {
    showError("Both a session id and a token are needed to join.");
    return;
  }
  $("join").disabled = true;
  $("manual-join").disabled = true;
  try {
    await connect();
  } catch (error) {
    showError(error.message || String(error));
    setStatus("Not connected.");
    await leave(false);
  }
}

async function connect() {
  setStatus("Asking for the microphone...");
  const mic = await openMicrophone();

  setStatus("Getting connection settings...");
  const iceResponse = await fetch(
    `/v1/ice-servers?session_id=${encodeURIComponent(vt.sessionId)}`, { headers: authHeaders() });
  if (!iceResponse.ok) throw new Error(await explain(iceResponse));
  const ice = await iceResponse.json();

  const pc = new RTCPeerConnection({
    iceServers: ice.iceServers, iceTransportPolicy: ice.iceTransportPolicy,
  });
  vt.pc = pc;
  const channel = pc.createDataChannel("chat");
  vt.channel = channel;
  channel.onmessage = onMessage;
  channel.onopen = () => setConnectedControls(true);
  channel.onclose = () => { if (vt.pc) setStatus("Disconnected."); setConnectedControls(false); };

  if (mic) pc.addTransceiver(mic, { direction: "sendrecv" });
  else pc.addTransceiver("audio", { direction: "recvonly" });
  pc.addTransceiver("video", { direction: "recvonly" });

  const remote = new MediaStream();
  $("tutor-video").srcObject = remote;
  pc.ontrack = (e) => {
    remote.addTrack(e.track);
    $("tutor-video").play().catch(() => { /* autoplay needs the Join click; it had one */ });
  };
  pc.onconnectionstatechange = () => {
    const state = pc.connectionState;
    const words = {
      connecting: "Connecting...", connected: "Connected.", disconnected: "Connection interrupted...",
      failed: "Connection failed.", closed: "Disconnected.",
    };
    setStatus(words[state] || state);
    if (state === "failed") {
      showError("The connection to the tutor failed. Check your network (UDP to the TURN server) and join again.");
      leave(false);
    }
  };

  setStatus("Finding a network path...");
  await pc.setLocalDescription(await pc.createOffer());
  await waitForIceGathering(pc);
  const sdp = pc.localDescription.sdp;
  if (ice.iceTransportPolicy === "relay" && !/ typ relay/.test(sdp)) {
    throw new Error("The TURN relay server cannot be reached, so no connection is possible.");
  }

  setStatus("Connecting to the tutor...");
  const answer = await fetch(`/v1/sessions/${encodeURIComponent(vt.sessionId)}/offer`, {
    method: "POST",
    headers: { ...authHeaders(), "Content-Type": "application/json" },
    body: JSON.stringify({ sdp, type: "offer" }),
  });
  if (!answer.ok) throw new Error(await explain(answer));
  const description = await answer.json();
  vt.peerId = description.peer_id;
  await pc.setRemoteDescription({ type: description.type, sdp: description.sdp });
  holdVideoWithAudio(pc);
}

async function leave(tellEdge = true) {
  const pc = vt.pc;
  vt.pc = null;
  if (tellEdge && vt.sessionId && vt.token) {
    // keepalive lets this finish while the page unloads.
    fetch(`/v1/sessions/${encodeURIComponent(vt.sessionId)}/close`, {
      method: "POST", headers: authHeaders(), keepalive: true,
    }).catch(() => {});
  }
  if (pc) {
    pc.getSenders().forEach((s) => s.track && s.track.stop());
    pc.close();
  }
  setConnectedControls(false);
  if (tellEdge) {
    setStatus("Left the session.");
    $("welcome").textContent = "You left. To talk again, open your link again.";
  }
}

function sendText(event) {
  event.preventDefault();
  const text = $("text").value.trim();
  if (!text || !vt.channel || vt.channel.readyState !== "open") return;
  vt.channel.send(JSON.stringify({ type: "text", text }));
  $("text").value = "";
}

function interrupt() {
  if (vt.channel && vt.channel.readyState === "open") {
    silenceTutor();
    vt.channel.send(JSON.stringify({ type: "interrupt" }));
  }
}

const initial = credentialsFromUrl();
$("session-id").value = initial.sessionId;
$("token").value = initial.token;
if (initial.sessionId && initial.token) {
  // From a link: one button, no fields.
  const tutor = initial.tutor || "your tutor";
  $("title").textContent = initial.tutor ? `Talk with ${initial.tutor}` : "Virtual Tutor";
  $("welcome").textContent = `Ready when you are: press the button and say hello to ${tutor}.`;
  $("join").hidden = false;
  $("start-hint").hidden = false;
  $("manual").hidden = true;
}
$("join").addEventListener("click", join);
$("join-form").addEventListener("submit", join);
$("leave").addEventListener("click", () => leave(true));
$("text-form").addEventListener("submit", sendText);
$("interrupt").addEventListener("click", interrupt);
window.addEventListener("pagehide", () => { if (vt.pc) leave(true); });
