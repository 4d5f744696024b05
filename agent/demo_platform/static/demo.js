// Demo platform home page: agent status, "Mes certificats" and "Tester la configuration de mon poste".
import { $, client, renderCertificates, setBusy, startPage, t } from "./common.js";

let currentJob = null;

function renderJob(job) {
  $("diag-progress").hidden = false;
  $("diag-bar").value = job.progress;
  $("diag-percent").textContent = `${job.progress} %`;
  $("diag-steps").replaceChildren(...job.steps.map((step) => {
    const li = document.createElement("li");
    li.dataset.state = step.state;
    li.dataset.step = step.id;
    li.textContent = step.label;
    return li;
  }));
}

function renderResult(result) {
  $("diag-rows").replaceChildren(...result.checks.map((check) => {
    const tr = document.createElement("tr");
    const label = document.createElement("td");
    label.textContent = check.label;
    const value = document.createElement("td");
    value.className = check.status;
    value.dataset.check = check.id;
    value.textContent = check.value;
    value.title = check.message;
    if (check.status !== "pass") {
      const note = document.createElement("div");
      note.className = "note";
      note.textContent = check.message;
      value.append(note);
    }
    tr.append(label, value);
    return tr;
  }));
  $("diag-verdict").textContent = result.message;
  $("diag-result").hidden = false;
}

async function runDiagnose() {
  $("diag-error").hidden = true;
  $("diag-result").hidden = true;
  setBusy("diagnose", true);
  try {
    const job = await client.runJob("diagnose", { user_agent: navigator.userAgent }, (snapshot) => {
      currentJob = snapshot;
      $("cancel-diagnose").hidden = false;
      renderJob(snapshot);
    });
    if (job.state === "succeeded") renderResult(job.result);
    else throw new Error(job.message || job.state);
  } catch (err) {
    $("diag-error").textContent = err.message;
    $("diag-error").hidden = false;
  } finally {
    currentJob = null;
    $("cancel-diagnose").hidden = true;
    setBusy("diagnose", false);
  }
}

async function listCertificates() {
  $("cert-error").hidden = true;
  try {
    const { certificates } = await client.call("certificates.list", { purpose: "signing" }, { timeout: 180000 });
    renderCertificates($("cert-rows"), certificates);
    $("cert-table").hidden = certificates.length === 0;
    $("cert-empty").hidden = certificates.length !== 0;
  } catch (err) {
    $("cert-error").textContent = err.message;
    $("cert-error").hidden = false;
  }
}

$("run-diagnose").addEventListener("click", runDiagnose);
$("cancel-diagnose").addEventListener("click", () => currentJob && client.cancelJob(currentJob.id).catch(() => {}));
$("list-certificates").addEventListener("click", listCertificates);
startPage();
