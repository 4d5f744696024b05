// Buyer page "Ouverture et analyse": the plis of a consultation, "Ouvrir en ligne" (bids.open:
// fetched, decrypted with the buyer's key, each opened file's signatures checked, sent back opened
// with its verdict) and "Télécharger les plis chiffrés" (bids.download), each with the live display
// of its job; then the opened files with their verdicts, to open, download, and read the report of.
import {
  $, JobView, agentAvailable, client, colon, downloadHandle, fetchJson, formatSize, handleBlob, jobError, localDateTime,
  platformToken, setBusy, showVerdict, startPage, t,
} from "./common.js";

const DEFAULT_CONSULTATION = "DEMO-2026-002";
const view = new JobView($("job"));
let consultation = null; // the descriptor shown
let opened = new Map(); // "pli/envelope/file" -> the opened result the platform received (with its verdict)
let loading = 0;
let shown = null; // the job shown: {kind, reference, count, job}, rendered again after a language change
let running = false; // a job of this page is running
let deadlines = new Map(); // consultation id -> its deadline (ISO, UTC) or null while none is set

const apiUrl = (id) => `/api/consultations/${encodeURIComponent(id)}`;
const filesOf = (pli) => pli.envelopes.flatMap((e) => e.files.map((f) => ({ envelope: e, file: f })));
const resultOf = (pli, envelope, file) => opened.get(`${pli.id}/${envelope.id}/${file.id}`);
const isOpened = (pli, envelope, file) => resultOf(pli, envelope, file) !== undefined;

async function loadConsultations() {
  try {
    const { consultations } = await fetchJson("/api/consultations", { token: await platformToken() });
    const wanted = new URLSearchParams(location.search).get("consultation") || DEFAULT_CONSULTATION;
    deadlines = new Map(consultations.map((c) => [c.id, c.deadline]));
    $("consultation").replaceChildren(...consultations.map((c) => {
      const option = document.createElement("option");
      option.value = c.id;
      option.textContent = `${c.reference || c.id} — ${c.title}`;
      option.selected = c.id === wanted;
      return option;
    }));
    await loadConsultation();
  } catch (err) {
    showError(err);
  }
}

/** Fetch the chosen consultation's descriptor and opened results, then show them. */
async function loadConsultation() {
  const id = $("consultation").value;
  if (!id) return;
  const mine = ++loading;
  try {
    const token = await platformToken();
    const [descriptor, results] = await Promise.all([
      fetchJson(apiUrl(id), { token }), fetchJson(`${apiUrl(id)}/results`, { token })]);
    if (mine !== loading) return; // another consultation was chosen meanwhile
    consultation = descriptor;
    opened = new Map(results.map((r) => [`${r.pli_id}/${r.envelope_id}/${r.file_id}`, r]));
    $("pli-error").hidden = true;
    renderPlis();
  } catch (err) {
    showError(err);
  }
}

/** The deadline of the shown consultation, or null; and whether it has passed. */
function deadlineOf() {
  const iso = consultation ? deadlines.get(consultation.id) : null;
  return { iso, passed: Boolean(iso) && Date.now() >= Date.parse(iso) };
}

/** "Date limite de remise des plis : … — ouverture possible dans N s"; the opening buttons wait for it. */
function renderDeadline() {
  const { iso, passed } = deadlineOf();
  $("deadline").textContent = iso ? localDateTime(iso) : t("deadlineNotSet");
  const seconds = iso ? Math.max(0, Math.ceil((Date.parse(iso) - Date.now()) / 1000)) : 0;
  $("deadline-state").textContent = !iso ? "" : passed ? `— ${t("deadlinePassed")}` : `— ${t("deadlineWait", { n: seconds })}`;
  $("deadline-state").className = passed ? "pass" : "";
  for (const b of [$("open-online"), $("download-sealed"), ...document.querySelectorAll(".open-pli")]) {
    b.disabled = !passed || !agentAvailable() || running;
    b.title = passed ? "" : t("deadlineBlocked");
  }
}

async function setDeadline() {
  if (!consultation) return;
  try {
    const seconds = Math.max(0, Math.round(Number($("deadline-seconds").value) || 0));
    const answer = await fetchJson(`${apiUrl(consultation.id)}/deadline`, {
      token: await platformToken(), method: "POST", json: { in_seconds: seconds } });
    deadlines.set(consultation.id, answer.deadline);
    renderPlis();
  } catch (err) {
    showError(err);
  }
}

function showError(err) {
  $("pli-error").textContent = err.message;
  $("pli-error").hidden = false;
}

function cell(...children) {
  const td = document.createElement("td");
  td.append(...children);
  return td;
}

function renderPlis() {
  if (!consultation) return;
  $("consultation-reference").textContent = consultation.reference || consultation.id;
  $("consultation-title").textContent = consultation.title;
  const checked = new Set(selectedPlis() || []);
  $("pli-rows").replaceChildren(...consultation.plis.map((pli) => {
    const tr = document.createElement("tr");
    tr.dataset.pli = pli.id;
    const select = document.createElement("input");
    select.type = "checkbox";
    select.className = "pli-select";
    select.value = pli.id;
    select.checked = checked.has(pli.id);
    select.setAttribute("aria-label", t("selectPli", { label: pli.label }));
    const files = filesOf(pli);
    const content = files.map(({ envelope, file }) => {
      const div = document.createElement("div");
      div.className = "file";
      div.dataset.envelope = envelope.id;
      div.dataset.file = file.id;
      div.title = envelope.label;
      const result = resultOf(pli, envelope, file);
      const state = result ? "opened" : "sealed";
      div.dataset.state = state;
      div.textContent = `${file.name} (${formatSize(file.size)}) - ${t(state)} -`;
      if (result && result.signature_status) {
        const verdict = document.createElement("span");
        verdict.className = `signature ${verdictClass(result.signature_status, result.signature_indication)}`;
        verdict.dataset.indication = result.signature_indication || result.signature_status;
        verdict.textContent = ` ${result.name}${colon()}${platformVerdict(result)}`;
        div.append(verdict);
      }
      return div;
    });
    const open = files.length > 0 && files.every(({ envelope, file }) => isOpened(pli, envelope, file));
    const status = cell(t(open ? "envelopeOpened" : "envelopeClosed"));
    status.className = open ? "pass" : "";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "open-pli";
    button.dataset.pli = pli.id;
    button.dataset.needsAgent = "";
    button.disabled = !agentAvailable();
    button.textContent = t("openOnline");
    button.addEventListener("click", () => run("bids.open", [pli.id]));
    tr.append(cell(select), cell(pli.label), cell(pli.company || "—"), cell(...content), status, cell(button));
    return tr;
  }));
  $("pli-table").hidden = consultation.plis.length === 0;
  $("pli-empty").hidden = consultation.plis.length !== 0;
  renderDeadline();
}

/** The checked plis, or null (meaning all of them) when none is checked. */
function selectedPlis() {
  const ids = [...document.querySelectorAll(".pli-select:checked")].map((box) => box.value);
  return ids.length ? ids : null;
}

/** The job section's heading lines ("Référence de la consultation concernée", the count) and verdict. */
function renderJobTexts() {
  if (!shown) return;
  const { kind, reference, count, job } = shown;
  $("job-title").dataset.i18n = kind === "bids.open" ? "openJobTitle" : "downloadJobTitle";
  $("job-title").textContent = t($("job-title").dataset.i18n);
  $("job-reference").textContent = t("jobReference", { reference });
  $("job-count").textContent = t(kind === "bids.open" ? "jobEnvelopes" : "jobPlis", { n: count });
  if (job) renderOutcome(kind, job);
}

/** pass / fail / warn: the colour of a verdict. */
function verdictClass(status, indication) {
  if (status !== "signed") return status === "error" ? "warn" : "";
  return { TOTAL_PASSED: "pass", TOTAL_FAILED: "fail" }[indication] || "warn";
}

/** A verdict as the platform received it, in the page's language. */
function platformVerdict(result) {
  if (result.signature_status === "signed") return t(result.signature_indication || "INDETERMINATE");
  return t(result.signature_status === "error" ? "notChecked" : "notSigned");
}

function button(text, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.addEventListener("click", onClick);
  return b;
}

const TYPES = { pdf: "application/pdf", xml: "text/xml", txt: "text/plain", csv: "text/plain", html: "text/html" };

async function openHandle(handle, name) {
  const type = TYPES[name.split(".").pop().toLowerCase()] || "application/octet-stream";
  window.open(URL.createObjectURL(await handleBlob(handle, type)), "_blank");
}

/** The files the job opened, each with its verdict (the agent's label), signers, and its actions. */
function renderOpened(result) {
  const files = (result && result.files ? result.files : []).filter((f) => f.status === "opened");
  $("opened").hidden = files.length === 0;
  $("opened-rows").replaceChildren(...files.map((f) => {
    const tr = document.createElement("tr");
    const name = f.name.split("/").pop();
    tr.dataset.file = name;
    const check = f.signature || { status: "unsigned", label: t("notSigned"), signers: [], signed_by: [] };
    const verdict = cell(check.label);
    verdict.className = verdictClass(check.status, check.indication);
    verdict.dataset.indication = check.indication || check.status;
    if (check.signed_by && check.signed_by.length) {
      const note = document.createElement("div");
      note.className = "note";
      note.textContent = t("signedBy", { names: check.signed_by.map((n) => n.split("/").pop()).join(", ") });
      verdict.append(note);
    }
    const actions = cell();
    if (f.handle) {
      actions.append(button(t("openFile"), () => openHandle(f.handle, name)), " ",
        button(t("download"), () => downloadHandle(f.handle, name)));
    }
    if (check.report_handle) {
      const report = button(t("openReport"), () => openHandle(check.report_handle, "rapport.html"));
      report.className = "open-report";
      actions.append(" ", report);
    }
    tr.append(cell(f.name), verdict, cell((check.signers || []).join(", ") || "—"), actions);
    return tr;
  }));
}

function renderOutcome(kind, job) {
  const result = job.result;
  renderOpened(kind === "bids.open" ? result : null);
  // bids.open: its failed files; bids.download: the files it could not have (a failed job keeps them).
  const failures = (result && result.files ? result.files : []).filter((f) => f.status === "failed")
    .concat(result && result.failed ? result.failed : []);
  $("job-files").replaceChildren(...failures.map((f) => {
    const li = document.createElement("li");
    li.className = "fail";
    li.textContent = t("fileError", { name: f.source || f.name || f.file, error: f.error ? f.error.message : f.status });
    return li;
  }));
  if (job.state !== "succeeded") {
    showVerdict($("job-verdict"), jobError(job), false);
  } else if (kind === "bids.download") {
    showVerdict($("job-verdict"), t("downloadDone", { folder: result.folder }));
  } else {
    let text = t("openDone", { n: result.uploaded });
    if (result.opened > result.uploaded) text += ` ${t("openNotUploaded", { n: result.opened - result.uploaded })}`;
    showVerdict($("job-verdict"), text, result.failed === 0 && result.opened === result.uploaded);
  }
}

/** Run bids.open or bids.download on the shown consultation (`plis`: ids, or null for all). */
async function run(kind, plis) {
  if (!consultation) return;
  if (!deadlineOf().passed) {
    showError(new Error(t("deadlineBlocked")));
    return;
  }
  const target = consultation;
  const chosen = target.plis.filter((p) => !plis || plis.includes(p.id));
  const count = kind === "bids.open"
    ? chosen.reduce((n, p) => n + p.envelopes.filter((e) => e.files.length).length, 0) : chosen.length;
  shown = { kind, reference: target.reference || target.id, count, job: null };
  $("job-section").hidden = false;
  renderJobTexts();
  showVerdict($("job-verdict"), "");
  $("job-files").replaceChildren();
  renderOpened(null);
  view.note("");
  setBusy("opening", true);
  running = true;
  try {
    const params = { url: apiUrl(target.id), token: await platformToken(target.id) };
    if (plis) params.plis = plis;
    const job = await client.runJob(kind, params, (snapshot) => view.update(snapshot), { timeout: 300000 });
    shown.job = job;
    renderOutcome(kind, job);
  } catch (err) {
    showVerdict($("job-verdict"), err.message, false);
  } finally {
    running = false;
    setBusy("opening", false);
    if (kind === "bids.open") await loadConsultation();
  }
}

$("consultation").addEventListener("change", loadConsultation);
$("deadline-set").addEventListener("click", setDeadline);
setInterval(() => { if (consultation) renderDeadline(); }, 1000);
$("open-online").addEventListener("click", () => run("bids.open", selectedPlis()));
$("download-sealed").addEventListener("click", () => run("bids.download", selectedPlis()));
document.addEventListener("agent-status", () => { // button states, and texts after a language change
  renderPlis();
  renderJobTexts();
});
startPage();
loadConsultations();
