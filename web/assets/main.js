// The inbox: login, then the list, the open thread and the live stream.
import { get, post, put, all, token, onUnauthorized, APIError } from "./api.js";
import { $ } from "./dom.js";
import { t, localize } from "./i18n.js";
import { createList } from "./list.js";
import { createThread } from "./thread.js";
import { createSearch } from "./search.js";
import { Stream } from "./stream.js";

const MANAGER = 1 | 32 | 64; // super-admin, admin, manager
const ADMIN = 1 | 32;

const app = {
  me: null, isManager: false, agents: new Map(), keys: new Map(), labels: [], known: new Map(), sentByMe: new Set(),
  view: "mine", filters: { status: "open", label: "", account: "" }, openID: "",
  agentName(id) {
    const a = this.agents.get(id);
    return a ? a.name || a.username : id === this.me.id ? this.me.name : t("sender_agent");
  },
  go(id, messageID) {
    location.hash = id ? "#/c/" + id + (messageID ? "/m/" + messageID : "") : "";
  },
};
window.convoInbox = app; // for the browser tests to look at

localize(document);

function showLogin(message) {
  $("#app").hidden = true;
  $("#login").hidden = false;
  const p = $("#login-message");
  p.textContent = message || "";
  p.hidden = !message;
  $("#username").focus();
}

onUnauthorized(() => {
  if (!token.get()) return;
  token.clear();
  stop();
  showLogin(t("session_ended"));
});

$("#login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const button = $("#login-submit");
  button.disabled = true;
  button.textContent = t("logging_in");
  try {
    const res = await post("/v1.0/auth/login", { username: $("#username").value, password: $("#password").value });
    token.set(res.token);
    $("#password").value = "";
    await start();
  } catch (err) {
    showLogin(err instanceof APIError && err.status === 429 ? t("login_throttled") : t("login_failed"));
  } finally {
    button.disabled = false;
    button.textContent = t("login");
  }
});

$("#logout").addEventListener("click", async () => {
  try {
    await post("/v1.0/auth/logout");
  } catch {
    // The token is forgotten here whatever the server says.
  }
  token.clear();
  stop();
  showLogin(t("logged_out"));
});

let stream = null;
function stop() {
  if (stream) stream.stop();
  stream = null;
  $("#conn").hidden = true;
}

async function start() {
  app.known.clear();
  app.sentByMe.clear();
  app.agents.clear();
  app.openID = "";
  app.me = await get("/v1.0/me");
  app.isManager = (app.me.permission & MANAGER) !== 0;
  $("#me-name").textContent = app.me.name || app.me.username;
  $("#my-status").value = app.me.status || "available";
  $('[data-view="all"]').hidden = !app.isManager;
  const [agents, accounts, labels, keys] = await Promise.all([
    all("/v1.0/service_agents/agents").catch(() => []),
    app.isManager ? all("/v1.0/conversation_accounts").catch(() => []) : [],
    all("/v1.0/labels").catch(() => []),
    // Only admins may list access keys; others show "API key".
    app.me.permission & ADMIN ? all("/v1.0/accesskeys").catch(() => []) : [],
  ]);
  agents.forEach((a) => app.agents.set(a.id, a));
  app.keys.clear();
  keys.forEach((k) => app.keys.set(k.id, k.name || k.token_prefix));
  fillSelect($("#f-account"), accounts.map((a) => [a.id, a.name || a.type]));
  setLabels(labels);
  $("#login").hidden = true;
  $("#app").hidden = false;
  app.list = app.list || createList(app);
  app.thread = app.thread || createThread(app);
  app.search = app.search || createSearch(app);
  setView(app.view);
  route();
  stop();
  stream = app.stream = new Stream({ onEvent, onState, onGap });
  stream.start();
}

function fillSelect(sel, pairs) {
  const first = sel.firstElementChild, value = sel.value;
  sel.replaceChildren(first, ...pairs.map(([v, label]) => Object.assign(document.createElement("option"), { value: v, textContent: label })));
  sel.value = value;
  if (sel.value !== value) sel.value = "";
  sel.hidden = pairs.length === 0;
}

// setLabels keeps the customer's labels: the filter's choices and the
// colours of chips. Admins add labels while agents work, so they are read
// again when the filter is opened and when a conversation shows one unknown.
function setLabels(labels) {
  const same = labels.length === app.labels.length && labels.every((l, i) => l.name === app.labels[i].name && l.color === app.labels[i].color);
  app.labels = labels;
  if (same) return;
  fillSelect($("#f-label"), labels.map((l) => [l.name, l.name]));
  if (app.list) app.list.render();
}

let labelsLoading = null;
function refreshLabels() {
  labelsLoading = labelsLoading || all("/v1.0/labels").then(setLabels, () => {}).finally(() => (labelsLoading = null));
  return labelsLoading;
}
for (const type of ["focus", "pointerdown"]) $("#f-label").addEventListener(type, refreshLabels);

const knownLabel = (name) => app.labels.some((l) => l.name.toLowerCase() === name.toLowerCase());

function setView(v) {
  app.view = v;
  for (const b of document.querySelectorAll("[data-view]")) b.setAttribute("aria-selected", String(b.dataset.view === v));
  app.list.reload();
}

for (const b of document.querySelectorAll("[data-view]")) b.addEventListener("click", () => setView(b.dataset.view));
for (const [id, key] of [["#f-status", "status"], ["#f-label", "label"], ["#f-account", "account"]]) {
  $(id).addEventListener("change", (e) => {
    app.filters[key] = e.target.value;
    app.list.reload();
  });
}

$("#my-status").addEventListener("change", async (e) => {
  const sel = e.target, before = app.me.status;
  try {
    app.me = { ...app.me, ...(await put("/v1.0/service_agents/me/status", { status: sel.value })) };
  } catch {
    sel.value = before;
  }
});

function onState(state) {
  $("#conn").hidden = state === "live";
  // A handshake refused may be a token that ended: any API call says so.
  if (state !== "live") get("/v1.0/me").catch(() => {});
}

// onGap: the stream restarted from now, so what the page shows is reloaded.
function onGap() {
  refreshLabels();
  app.list.reload();
  if (app.openID) app.thread.open(app.openID);
}

function onEvent(e) {
  const d = e.data || {};
  switch (e.type) {
    case "conversation_created":
    case "conversation_updated":
    case "conversation_deleted":
      app.list.fromStream(d);
      if ((d.labels || []).some((l) => !knownLabel(l))) refreshLabels();
      break;
    case "conversation_left":
      // Assigned away or taken from the queue by someone else: no longer ours to show.
      app.known.delete(d.id);
      app.list.remove(d.id);
      app.thread.lost(d.id);
      break;
    case "unassigned_queue_changed":
      // The queue opened or closed to this agent: what the list shows changes with it.
      for (const [id, c] of app.known) if (c.owner_type !== "agent") app.known.delete(id);
      app.list.reload();
      if (!d.agents_take_unassigned && app.openID && !app.isManager) app.thread.lostUnassigned();
      break;
    case "conversation_message_created":
      app.list.message(d);
      break;
    case "conversation_read":
      app.list.read(d.conversation_id || d.id, d.unread_count);
      break;
  }
  app.thread.event(e);
}

// route opens the conversation the address names: #/c/{id}[/m/{message}].
function route() {
  const m = /^#\/c\/([^/]+)(?:\/m\/([^/]+))?$/.exec(location.hash);
  const id = m ? m[1] : "";
  document.body.classList.toggle("reading", !!id);
  if (id === app.openID && !(m && m[2])) return;
  app.openID = id;
  app.list.render();
  if (id) app.thread.open(id, m[2]);
  else app.thread.close();
}
addEventListener("hashchange", () => app.list && route());

// Keys: the main path works without a mouse.
document.addEventListener("keydown", (e) => {
  if ($("#app").hidden || e.ctrlKey || e.metaKey || e.altKey) return;
  const el = e.target;
  const typing = el.closest && el.closest("input, textarea, select");
  if (typing) {
    if (e.key === "Escape" && el.id === "composer") {
      el.blur();
      focusOpenRow();
    }
    return;
  }
  const inList = el.closest && el.closest("#list");
  switch (e.key) {
    case "j": case "ArrowDown":
      if (e.key === "j" || inList) { e.preventDefault(); app.list.move(1); }
      break;
    case "k": case "ArrowUp":
      if (e.key === "k" || inList) { e.preventDefault(); app.list.move(-1); }
      break;
    case "r":
      e.preventDefault();
      app.thread.focusComposer();
      break;
    case "e":
      app.thread.resolve();
      break;
    case "/":
      e.preventDefault();
      app.search.focus();
      break;
    case "Escape":
      if (app.openID) { focusOpenRow(); app.go(""); }
      break;
  }
});

function focusOpenRow() {
  const row = document.querySelector(`#list .row[data-id="${CSS.escape(app.openID)}"]`) || document.querySelector("#list .row");
  if (row) row.focus();
}

if (token.get()) {
  start().catch((err) => {
    if (token.get()) showLogin(t("error", err.message));
  });
} else {
  showLogin("");
}
