// Compagnon's local console. Served by the agent on its own loopback port (agent/desktop/console/).
//
// The page is opened as /console/#k=CODE: the one-time code is swapped at once for a session token
// kept in sessionStorage (this origin and this tab only) and sent as the X-Compagnon-Console header
// on every call; the code leaves the address bar. Without a token the page shows nothing but how
// to open the console. Texts: texts.json (French first, English). Each job is drawn by the platform
// kit's job view (job-view.js, served from bridge_protocol/js), with its own texts.

import { JobView } from "./job-view.js";

const TOKEN_KEY = "compagnon-console";
const LOCALE_KEY = "compagnon-console-locale";
const SECTIONS = ["accueil", "applications", "traitements", "sites", "journal"];
const TERMINAL = ["succeeded", "failed", "cancelled", "interrupted"];

let TEXTS = null;
let locale = localStorage.getItem(LOCALE_KEY) === "en" ? "en" : "fr";
let token = null;
let version = -1;
let lastState = null;
let section = "accueil";
let refreshSignature = "";

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function t(key, fields = {}) {
  const text = (TEXTS && (TEXTS[locale][key] ?? TEXTS.fr[key])) ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (fields[name] ?? "").toString());
}

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function applyLocale() {
  document.documentElement.lang = locale;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  if (lastState) render(lastState, true);
}

function formatDate(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${pad(d.getDate())}/${pad(d.getMonth() + 1)}/${d.getFullYear()} - ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function formatSize(bytes) {
  const units = locale === "en" ? ["B", "KB", "MB", "GB"] : ["o", "Ko", "Mo", "Go"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  const number = value.toLocaleString(locale === "en" ? "en-GB" : "fr-FR", { maximumFractionDigits: unit ? 1 : 0 });
  return `${number} ${units[unit]}`;
}

// -- the API ---------------------------------------------------------------------------------------

async function api(path, { method = "GET", body } = {}) {
  const headers = { "X-Compagnon-Console": token, "Accept-Language": locale };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, cache: "no-store", credentials: "omit",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 403) {
    lock("lockedExpired");
    throw new Error("forbidden");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(data.message || data.error || `HTTP ${response.status}`);
    error.data = data;
    throw error;
  }
  return data;
}

function lock(key) {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $("app").hidden = true;
  $("locked").hidden = false;
  $("locked-message").dataset.i18n = key;
  $("locked-message").textContent = t(key);
}

// -- rendering ---------------------------------------------------------------------------------------

function render(state, force = false) {
  lastState = state;
  renderStatus(state.status);
  renderPrompts(state.prompts, force);
  renderJobs(state.jobs);
  const signature = state.prompts.map((p) => p.id).join(",") + "|" +
    state.jobs.filter((j) => TERMINAL.includes(j.state)).map((j) => j.id).join(",");
  if (signature !== refreshSignature) {
    refreshSignature = signature;
    if (section === "sites") loadSites();
    if (section === "journal") loadJournal();
  }
}

function renderStatus(status) {
  $("version").textContent = t("versionLabel", { version: status.version });
  const badge = $("state-badge");
  badge.dataset.state = status.state;
  badge.textContent = t(`state_${status.state}`);
  $("home-version").textContent = status.version;
  $("home-state").textContent = t(`state_${status.state}`);
  $("home-state").dataset.state = status.state;
  $("home-bridge").textContent = status.bridge;
  $("home-origins").textContent = status.allowed_origins.length ? status.allowed_origins.join(", ") : t("homeNoOrigins");
  renderUpdate(status.update);
  document.title = (status.prompts ? `(${status.prompts}) ` : "") + t("pageTitle");
}

function renderUpdate(update) {
  $("home-update").textContent = t(`update_${update.status}`, { version: update.version || "", reason: update.reason || "" });
  $("home-update").dataset.status = update.status;
  $("home-update-checked").textContent = update.checked_at ? t("updateCheckedAt", { date: formatDate(update.checked_at) }) : "";
  $("update-check").hidden = !update.enabled;
  $("update-check").disabled = update.status === "checking";
}

async function checkForUpdate() {
  $("update-check").disabled = true;
  $("home-update").textContent = t("update_checking");
  try {
    renderUpdate(await api("/console/api/update/check", { method: "POST", body: {} }));
  } catch (err) {
    $("home-update").textContent = err.message;
    $("update-check").disabled = false;
  }
}

function promptTitle(prompt) {
  if (prompt.pin_retry) return t("prompt_pin_retry");
  return t(prompt.type === "code" ? "prompt_pair_code" : `prompt_${prompt.action}`);
}

/** A prompt that went away without the user's answer (its job cancelled, or no answer in time):
 * shown withdrawn, its fields closed, until dismissed — never removed silently. */
function withdraw(card) {
  if (card.classList.contains("withdrawn")) return;
  card.classList.add("withdrawn");
  for (const field of card.querySelectorAll("input,textarea,button")) {
    if (field.type === "password" || field.tagName === "TEXTAREA") field.value = "";
    field.disabled = true;
  }
  const dismiss = el("button", { type: "button", className: "dismiss", textContent: t("dismiss") });
  dismiss.addEventListener("click", () => {
    card.remove();
    $("no-prompt").hidden = $("prompts").children.length > 0;
  });
  card.append(el("p", { className: "error prompt-withdrawn", textContent: t("promptWithdrawn") }), dismiss);
}

function buildPrompt(prompt) {
  const card = el("article", { className: "prompt" });
  card.dataset.prompt = prompt.id;
  card.dataset.action = prompt.action;
  card.dataset.type = prompt.type;
  card.append(el("h3", { textContent: promptTitle(prompt) }));
  const site = prompt.origin === "console:" ? t("consoleOrigin") : prompt.origin;
  card.append(el("p", {}, `${t("site")} : `, el("strong", { className: "prompt-origin", textContent: site })));
  if (prompt.summary) card.append(el("p", { className: "prompt-summary", textContent: prompt.summary }));
  if (prompt.pairing_code) {
    const code = `${prompt.pairing_code.slice(0, 3)} ${prompt.pairing_code.slice(3)}`;
    card.append(el("p", { className: "prompt-code-line" }, `${t("pairingCode")} : `,
      el("strong", { className: "prompt-code", textContent: code })));
  }
  if (prompt.files && prompt.files.length) {
    const rows = prompt.files.map((f) => {
      const tr = el("tr", {}, el("td", { textContent: f.name }), el("td", { textContent: formatSize(f.size), title: `${f.size}` }),
        el("td", { className: "digest", textContent: f.sha256 }));
      tr.dataset.file = f.name;
      return tr;
    });
    card.append(el("table", { className: "prompt-files" },
      el("thead", {}, el("tr", {}, el("th", { textContent: t("colFile") }), el("th", { textContent: t("colSize") }),
        el("th", { textContent: "SHA-256" }))),
      el("tbody", {}, ...rows)));
  }
  if (prompt.certificate) {
    card.append(el("p", {}, `${t("certificate")} : `, el("span", { className: "prompt-certificate", textContent: prompt.certificate })));
  }
  const error = el("p", { className: "error prompt-error", hidden: true });
  const buttons = [];
  let pin = null;
  let paths = null;
  if (prompt.type === "pick") {
    const accept = prompt.accept.length ? ` (${prompt.accept.join(", ")})` : "";
    paths = el("textarea", { rows: 3, spellcheck: false, autocomplete: "off" });
    card.append(el("label", { className: "prompt-paths" }, t(prompt.multiple ? "pickPathsMany" : "pickPathsOne") + accept, paths));
  }
  if (prompt.notice) card.append(el("p", { className: "error prompt-notice", textContent: prompt.notice }));
  let confirm = null;
  if (prompt.needs_pin) {
    if (prompt.new_password && prompt.password_rule) { // the rule, before anything is typed
      card.append(el("p", { className: "prompt-rule", textContent: t("passwordRule", { rule: prompt.password_rule }) }));
    }
    pin = el("input", { type: "password", autocomplete: "off", spellcheck: false, className: "prompt-pin" });
    card.append(el("label", {}, el("span", { textContent: t(prompt.new_password ? "newPassword" : "pin") }), " ", pin));
    if (prompt.new_password) {
      confirm = el("input", { type: "password", autocomplete: "off", spellcheck: false, className: "prompt-pin-confirm" });
      card.append(" ", el("label", {}, el("span", { textContent: t("confirmPassword") }), " ", confirm));
    }
  }
  const refuse = (reason, detail = "") => {
    error.textContent = t(`answer_${reason}`, { detail });
    error.hidden = false;
  };
  const send = async (approved) => {
    error.hidden = true;
    if (approved && confirm) { // a new password: the same twice, long enough, before it goes anywhere
      if (pin.value.length < (prompt.password_min_length || 0)) return refuse("password_too_short", `${prompt.password_min_length}`);
      if (pin.value !== confirm.value) return refuse("password_mismatch");
    }
    for (const b of buttons) b.disabled = true;
    const body = {};
    if (prompt.type === "pick") body.paths = approved ? paths.value.split("\n") : null;
    else body.approved = approved;
    if (approved && pin) body.pin = pin.value;
    if (approved && confirm) body.pin_confirm = confirm.value;
    try {
      await api(`/console/api/prompts/${encodeURIComponent(prompt.id)}`, { method: "POST", body });
      if (pin) pin.value = "";
      if (confirm) confirm.value = "";
      card.remove();
      $("no-prompt").hidden = $("prompts").children.length > 0;
    } catch (err) {
      const data = err.data || {};
      if (data.error === "gone") return withdraw(card);
      refuse(data.error || "type", (data.detail || []).join(", "));
      if (!data.error) error.textContent = err.message;
      for (const b of buttons) b.disabled = false;
    }
  };
  const yes = el("button", { type: "button", className: "approve", textContent: t(prompt.type === "pick" ? "choose" : "approve") });
  const no = el("button", { type: "button", className: "deny", textContent: t(prompt.type === "pick" ? "cancel" : "deny") });
  yes.addEventListener("click", () => send(true));
  no.addEventListener("click", () => send(false));
  for (const field of [pin, confirm]) {
    if (field) field.addEventListener("keydown", (event) => { if (event.key === "Enter") send(true); });
  }
  buttons.push(yes, no);
  const deadline = Date.now() + prompt.expires_in * 1000;
  const expires = el("p", { className: "note prompt-expires" });
  const tick = () => {
    if (!card.isConnected) return;
    expires.textContent = t("expiresIn", { seconds: Math.max(0, Math.round((deadline - Date.now()) / 1000)) });
    setTimeout(tick, 1000);
  };
  if (prompt.type === "code") card.append(expires); // nothing to answer: the code goes in the page
  else card.append(error, el("p", { className: "prompt-buttons" }, yes, " ", no), expires);
  setTimeout(tick, 0);
  return card;
}

function renderPrompts(prompts, force) {
  const container = $("prompts");
  const wanted = new Set(prompts.map((p) => p.id));
  for (const card of [...container.children]) {
    if (card.classList.contains("withdrawn")) continue; // stays until dismissed
    // A prompt gone without an answer from here is shown withdrawn; a card the user is typing in
    // is never rebuilt.
    if (!wanted.has(card.dataset.prompt)) {
      if (card.dataset.type === "code") card.remove(); // a code shown until the page confirmed it: done
      else withdraw(card);
    }
    else if (force && !card.querySelector("input,textarea")?.value) card.remove();
  }
  const shown = new Set([...container.children].map((c) => c.dataset.prompt));
  for (const prompt of prompts) {
    if (!shown.has(prompt.id)) container.append(buildPrompt(prompt));
  }
  $("no-prompt").hidden = container.children.length > 0;
}

/** The jobs on show: id -> its list item, its heading and details, and its live view (the platform
 * kit's JobView, bridge_protocol/js/job-view.js: the same view as the demo pages'). Kept from one
 * poll to the next, so a job is drawn again in place, its cancel button included. */
const shownJobs = new Map();

function jobEntry(job) {
  let entry = shownJobs.get(job.id);
  if (entry) return entry;
  const item = el("li", { className: "job" });
  const head = el("div", { className: "job-head" });
  const live = el("div", { id: `job-${job.id}`, className: "job-view" });
  const details = el("div", { className: "job-details" });
  item.append(head, live, details);
  const view = new JobView(live, {
    locale: () => locale,
    showError: true,
    cancel: (shown) => api(`/console/api/jobs/${encodeURIComponent(shown.id)}/cancel`, { method: "POST" }),
  });
  entry = { item, head, details, view };
  shownJobs.set(job.id, entry);
  return entry;
}

function renderJob(job) {
  const { item, head, details, view } = jobEntry(job);
  item.dataset.job = job.id;
  item.dataset.state = job.state;
  item.dataset.kind = job.kind;
  const who = job.origin === "console:" ? t("consoleOrigin") : job.origin;
  const summary = job.summary || {};
  head.replaceChildren(
    el("h3", {}, el("span", { className: "job-title", textContent: t(`kind_${job.kind}`) }), " ",
      el("span", { className: "job-origin note", textContent: who })),
    el("p", { className: "job-start", textContent: t("jobStarted", { date: formatDate(job.created_at) }) }),
    TERMINAL.includes(job.state)
      ? el("p", { className: "job-end", textContent: t("jobEnded", { date: formatDate(job.updated_at), state: t(`jobState_${job.state}`) }) })
      : null,
    summary.reference ? el("p", { className: "job-reference", textContent: t("jobReference", { reference: summary.reference }) }) : null,
  );
  // Steps (✓ / ✗ / waiting for you, and where), progress, item, speed, message, failure, cancel.
  view.update(job);
  const parts = [];
  if (summary.files && summary.files.length) {
    parts.push(el("ul", { className: "job-outputs" }, ...summary.files.map((f) => {
      const ok = !f.error;
      const text = ok ? `✓ ${f.source ?? f.name ?? ""}${f.output ? ` → ${f.output}` : ""}${f.folder ? ` (${f.folder})` : ""}`
        : `✗ ${f.source ?? f.name ?? ""} : ${f.error.message ?? f.error.code}`;
      return el("li", { textContent: text });
    })));
  }
  if (summary.indication) parts.push(el("p", { className: "job-indication", textContent: t(`indication_${summary.indication}`) }));
  if (summary.report_name) parts.push(el("p", { className: "note", textContent: t("reportAt", { path: summary.report_name }) }));
  if (summary.location) parts.push(el("p", { className: "note", textContent: t("keyAt", { location: summary.location }) }));
  if (job.kind === "diagnose" && summary.message && summary.message !== job.message) {
    parts.push(el("p", { className: "job-verdict", textContent: summary.message }));
  }
  details.replaceChildren(...parts);
  return item;
}

function renderJobs(jobs) {
  const list = $("jobs");
  const items = jobs.map(renderJob);
  const listed = new Set(jobs.map((j) => j.id));
  for (const [id, entry] of shownJobs) {
    if (!listed.has(id)) {
      entry.item.remove();
      shownJobs.delete(id);
    }
  }
  // In the list's order (newest first), moving only what is out of place.
  items.forEach((item, index) => {
    if (list.children[index] !== item) list.insertBefore(item, list.children[index] ?? null);
  });
  $("jobs-none").hidden = jobs.some((j) => !TERMINAL.includes(j.state));
}

async function loadSites() {
  try {
    const { pairings } = await api("/console/api/pairings");
    $("sites-none").hidden = pairings.length > 0;
    $("sites-rows").replaceChildren(...pairings.map((p) => {
      const tr = el("tr");
      tr.dataset.origin = p.origin;
      const actions = el("td");
      if (p.preapproved) {
        actions.textContent = t("preapproved");
      } else {
        const revoke = el("button", { type: "button", textContent: t("revoke") });
        revoke.setAttribute("aria-label", `${t("revoke")} ${p.origin}`);
        revoke.addEventListener("click", async () => {
          revoke.disabled = true;
          await api("/console/api/pairings/revoke", { method: "POST", body: { origin: p.origin } }).catch(() => {});
          loadSites();
        });
        actions.append(revoke);
      }
      tr.append(el("td", { textContent: p.origin }), el("td", { textContent: p.preapproved ? "—" : formatDate(p.approved_at) }), actions);
      return tr;
    }));
  } catch (_) { /* locked, or the agent is gone */ }
}

async function loadJournal() {
  try {
    const { verification, entries, hidden } = await api("/console/api/audit");
    const state = $("audit-state");
    state.dataset.intact = String(verification.intact);
    state.textContent = verification.intact
      ? t(verification.entries > 1 ? "auditIntact" : "auditIntactOne", { n: verification.entries })
      : t("auditBroken", { seq: verification.broken.seq, reason: t(`reason_${verification.broken.reason}`) });
    $("audit-digest").textContent = t("auditDigest", { digest: verification.last_digest });
    $("audit-hidden").textContent = hidden ? t(hidden > 1 ? "auditHidden" : "auditHiddenOne", { n: hidden }) : "";
    $("audit-rows").replaceChildren(...entries.map((e) => {
      const tr = el("tr");
      tr.dataset.seq = e.seq;
      const files = e.inputs.map((f) => f.name).join(", ");
      const result = t(`result_${e.result}`) + (e.error ? ` (${e.error})` : "");
      const who = e.origin === "cli:" ? t("cliOrigin") : e.origin === "console:" ? t("consoleOrigin") : e.origin;
      tr.append(el("td", { textContent: formatDate(e.time) }), el("td", { textContent: who }),
        el("td", { textContent: TEXTS[locale][`action_${e.action}`] ?? e.action }), el("td", { textContent: result }),
        el("td", { textContent: files }), el("td", { textContent: e.certificate ? e.certificate.subject : "" }));
      return tr;
    }));
  } catch (_) { /* locked */ }
}

async function exportJournal() {
  const status = $("audit-export-status");
  status.textContent = "";
  try {
    const response = await fetch("/console/api/audit/export", {
      headers: { "X-Compagnon-Console": token }, cache: "no-store", credentials: "omit" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "")?.[1] || "journal-compagnon.jsonl";
    const url = URL.createObjectURL(await response.blob());
    const link = el("a", { href: url, download: name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    status.textContent = t(response.headers.get("X-Compagnon-Audit") === "intact" ? "auditExported" : "auditExportedBroken", { name });
  } catch (err) {
    status.textContent = err.message;
  }
}

async function createBundle() {
  $("bundle-create").disabled = true;
  $("bundle-status").textContent = t("bundleRunning");
  try {
    const { path } = await api("/console/api/diagnostic-bundle", { method: "POST", body: {} });
    $("bundle-status").textContent = t("bundleWritten", { path });
  } catch (err) {
    const data = err.data || {};
    $("bundle-status").textContent = data.error === "not_written"
      ? t("bundleNotWritten", { folder: data.folder, reason: t(`bundleReason_${data.reason}`, { code: data.code }) })
      : err.message;
  } finally {
    $("bundle-create").disabled = false;
  }
}

// -- applications --------------------------------------------------------------------------------------

async function loadCertificates() {
  $("certificates-status").textContent = t("loading");
  try {
    const [signing, decryption] = await Promise.all([
      api("/console/api/certificates?purpose=signing"), api("/console/api/certificates?purpose=decryption")]);
    const fill = (select, certificates, automatic) => {
      const options = certificates.map((c) => el("option", {
        value: c.id, textContent: `${c.subject}${c.organization ? ` — ${c.organization}` : ""} (${c.issuer}, ${c.source.label})${c.suitable ? "" : ` — ${t("notSuitable")}`}`,
      }));
      if (automatic) options.unshift(el("option", { value: "", textContent: t("certificateAuto") }));
      select.replaceChildren(...options);
    };
    fill($("sign-certificate"), signing.certificates, false);
    fill($("decrypt-certificate"), decryption.certificates, true);
    $("certificates-status").textContent = t("certificatesFound", { n: signing.certificates.length + decryption.certificates.length });
  } catch (err) {
    $("certificates-status").textContent = err.message;
  }
}

function lines(id) {
  return $(id).value.split("\n").map((s) => s.trim()).filter(Boolean);
}

async function startJob(kind, params, statusId, problem = null) {
  const status = $(statusId);
  status.className = "form-status";
  if (problem) {
    status.className = "form-status error";
    status.textContent = t(problem);
    return;
  }
  try {
    await api("/console/api/jobs", { method: "POST", body: { kind, params } });
    status.textContent = t("jobLaunched");
    location.hash = "s=traitements";
  } catch (err) {
    status.className = "form-status error";
    status.textContent = err.message;
  }
}

function setupApplications() {
  $("update-check").addEventListener("click", checkForUpdate);
  $("audit-export").addEventListener("click", exportJournal);
  $("bundle-create").addEventListener("click", createBundle);
  $("load-certificates").addEventListener("click", loadCertificates);
  $("sign-run").addEventListener("click", () => {
    const files = lines("sign-files").map((path) => ({ path, format: $("sign-format").value }));
    const params = { files, certificate: $("sign-certificate").value, level: $("sign-level").value };
    if ($("sign-out").value.trim()) params.out_dir = $("sign-out").value.trim();
    startJob("sign", params, "sign-status", !files.length ? "formNoFile" : !params.certificate ? "formNoCertificate" : null);
  });
  $("verify-run").addEventListener("click", () => {
    const params = { path: $("verify-file").value.trim() };
    if ($("verify-content").value.trim()) params.content_path = $("verify-content").value.trim();
    startJob("verify", params, "verify-status", params.path ? null : "formNoFile");
  });
  $("decrypt-run").addEventListener("click", () => {
    const params = { files: lines("decrypt-files").map((path) => ({ path })), extract: $("decrypt-extract").checked };
    if ($("decrypt-certificate").value) params.certificate = $("decrypt-certificate").value;
    if ($("decrypt-out").value.trim()) params.out_dir = $("decrypt-out").value.trim();
    startJob("decrypt", params, "decrypt-status", params.files.length ? null : "formNoFile");
  });
  $("keygen-run").addEventListener("click", () => {
    const params = { name: $("keygen-name").value.trim(), secours: $("keygen-secours").checked,
      bits: Number($("keygen-bits").value), target: $("keygen-target").value };
    if (params.target === "pkcs11" && $("keygen-token").value.trim()) params.token_label = $("keygen-token").value.trim();
    if (params.target === "p12" && $("keygen-out").value.trim()) params.out = $("keygen-out").value.trim();
    startJob("keygen", params, "keygen-status", params.name ? null : "formNoName");
  });
}

// -- navigation, polling, start -----------------------------------------------------------------------

function show(name) {
  const target = name === "about" ? "accueil" : SECTIONS.includes(name) ? name : "accueil";
  section = target;
  for (const s of SECTIONS) {
    $(`s-${s}`).hidden = s !== target;
    if (s === target) $(`nav-${s}`).setAttribute("aria-current", "page"); else $(`nav-${s}`).removeAttribute("aria-current");
  }
  if (target === "sites") loadSites();
  if (target === "journal") loadJournal();
  if (target === "applications" && !$("sign-certificate").options.length) loadCertificates();
  if (name === "about") $("about").scrollIntoView();
}

function sectionFromHash() {
  return new URLSearchParams(location.hash.slice(1)).get("s") || "accueil";
}

async function poll() {
  while (token) {
    try {
      const state = await api(`/console/api/state?since=${version}`);
      version = state.version;
      render(state);
    } catch (_) {
      if (!token) return;
      await sleep(1000);
    }
  }
}

async function start() {
  TEXTS = await (await fetch("/console/static/texts.json", { cache: "no-store" })).json();
  applyLocale();
  const params = new URLSearchParams(location.hash.slice(1));
  const code = params.get("k");
  section = params.get("s") || "accueil";
  // The one-time code leaves the address bar (and this entry of the history) at once.
  history.replaceState(null, "", `${location.pathname}#s=${encodeURIComponent(section)}`);
  if (code) {
    const response = await fetch("/console/api/session", {
      method: "POST", headers: { "X-Compagnon-Code": code }, cache: "no-store", credentials: "omit",
    }).catch(() => null);
    if (!response || !response.ok) {
      lock("lockedExpired");
      return;
    }
    token = (await response.json()).token;
    sessionStorage.setItem(TOKEN_KEY, token);
  } else {
    token = sessionStorage.getItem(TOKEN_KEY);
  }
  if (!token) {
    lock("locked");
    return;
  }
  $("locked").hidden = true;
  $("app").hidden = false;
  $("lang").addEventListener("click", () => {
    locale = locale === "fr" ? "en" : "fr";
    localStorage.setItem(LOCALE_KEY, locale);
    applyLocale();
  });
  addEventListener("hashchange", () => show(sectionFromHash()));
  addEventListener("pagehide", () => {
    if (token) {
      fetch("/console/api/bye", { method: "POST", headers: { "X-Compagnon-Console": token }, keepalive: true, credentials: "omit" })
        .catch(() => {});
    }
  });
  setupApplications();
  show(section);
  poll();
}

start();
