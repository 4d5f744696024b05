// Bidder page "Déposer une offre": the agent seals the chosen files (encrypt job, AES-256-GCM) to
// the buyer's registered encryption keys and deposits them on the consultation.
import {
  $, JobView, client, fetchJson, formatSize, jobError, localDateTime, platformToken, setBusy, showVerdict, startPage,
  t, uploadFile,
} from "./common.js";

const CONSULTATION = $("depot").dataset.consultation;
const API = `/api/consultations/${encodeURIComponent(CONSULTATION)}`;
const view = new JobView($("depot-job"));
let shownResult = null; // the last deposit's result, rendered again after a language change

/** A random deposit id: every file sent with it goes into the same new pli. */
function depotId() {
  return Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function showConsultation() {
  try {
    const consultation = await fetchJson(API, { token: await platformToken() });
    $("depot-reference").textContent = consultation.reference || consultation.id;
    $("depot-title").textContent = consultation.title;
  } catch (_) {
    /* the reference shown by the page stays */
  }
}

function renderOutputs(result) {
  shownResult = result;
  $("depot-outputs").replaceChildren(...result.files.map((item) => {
    const li = document.createElement("li");
    const ok = item.status === "encrypted" && item.uploaded;
    li.className = ok ? "pass" : "fail";
    li.dataset.source = item.source;
    li.textContent = ok
      ? `✓ ${t("depotFileDone", { source: item.source, output: item.output })}`
      : `✗ ${t("fileError", { name: item.source, error: item.error ? item.error.message : item.status })}`;
    if (ok && result.receipt) li.textContent += ` (${t(item.receipted ? "receiptMatched" : "receiptMissing")})`;
    return li;
  }));
  renderReceipt(result.receipt);
}

/** The platform's deposit receipt, as the agent kept it with the job: the pli's files, sizes, SHA-256, time. */
function renderReceipt(receipt) {
  $("depot-receipt").hidden = !receipt;
  if (!receipt) return;
  $("depot-receipt").dataset.receipt = receipt.id;
  $("depot-receipt-line").textContent = t("receiptLine", {
    id: receipt.id, pli: receipt.label || receipt.pli, time: localDateTime(receipt.received_at) });
  $("depot-receipt-rows").replaceChildren(...receipt.files.map((file) => {
    const tr = document.createElement("tr");
    for (const text of [file.name, formatSize(file.size), file.sha256]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  }));
}

async function send() {
  const company = $("depot-company").value.trim();
  const files = [...$("depot-files").files];
  $("depot-outputs").replaceChildren();
  renderReceipt(null);
  if (!company || !files.length) {
    showVerdict($("depot-verdict"), t(company ? "noFile" : "companyMissing"), false);
    return;
  }
  showVerdict($("depot-verdict"), "");
  setBusy("depot", true);
  try {
    const token = await platformToken();
    const { certificates } = await fetchJson(`${API}/recipients`, { token });
    if (!certificates.length) throw new Error(t("noRecipients"));
    const refs = [];
    for (const [index, file] of files.entries()) {
      view.note(t("uploading", { i: index + 1, n: files.length }));
      refs.push({ handle: await uploadFile(file) });
    }
    const query = new URLSearchParams({ depot: depotId(), company });
    const params = {
      files: refs, recipients: certificates, algorithm: "aes-256-gcm", upload_url: `${API}/plis?${query}`, token,
    };
    const job = await client.runJob("encrypt", params, (snapshot) => view.update(snapshot), { timeout: 300000 });
    if (job.state !== "succeeded") throw new Error(jobError(job));
    renderOutputs(job.result);
    const ok = job.result.files.length > 0 && job.result.files.every((f) => f.status === "encrypted" && f.uploaded);
    showVerdict($("depot-verdict"), t(ok ? "depotDone" : "depotFailed"), ok);
    if (ok) $("depot-files").value = "";
  } catch (err) {
    showVerdict($("depot-verdict"), err.message, false);
  } finally {
    setBusy("depot", false);
  }
}

/**
 * After a reload, the newest deposit this site made on this consultation, with its receipt, as the
 * agent kept it with the job (`jobs.list`: this site's jobs, newest first, earlier runs included).
 */
let lookedBack = false;
async function showLastDeposit() {
  if (lookedBack || shownResult || !client.online || client.state !== "paired") return;
  lookedBack = true;
  try {
    const jobs = await client.listJobs(100);
    const last = jobs.find((job) => job.kind === "encrypt" && job.state === "succeeded" && job.result
      && job.result.receipt && job.result.receipt.consultation === CONSULTATION);
    if (!last || shownResult) return;
    renderOutputs(last.result);
    showVerdict($("depot-verdict"), t("depotLast", { time: localDateTime(last.result.receipt.received_at) }));
  } catch (_) {
    lookedBack = false; // asked again when the agent is back
  }
}

$("depot-send").addEventListener("click", send);
document.addEventListener("agent-status", (event) => {
  if (shownResult) renderOutputs(shownResult); // texts after a language change
  if (event.detail.online) showLastDeposit();
});
startPage();
showConsultation();
