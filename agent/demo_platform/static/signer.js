// Bidder page "Signer un document": files with a format each, the certificate, live progress,
// and the generated files, as on the reference platform.
import {
  $, JobView, client, colon, downloadHandle, formatSize, jobError, renderCertificates, setBusy, startPage, t,
  uploadFile,
} from "./common.js";

const files = [];
const view = new JobView($("sign-job"));
/** The formats as their standards write them. */
const FORMAT_NAMES = { pades: "PAdES", cades: "CAdES", xades: "XAdES" };

function defaultFormat(name) {
  const lower = name.toLowerCase();
  if (lower.endsWith(".pdf")) return "pades";
  if (lower.endsWith(".zip")) return "xades";
  return "cades";
}

function renderFiles() {
  $("file-rows").replaceChildren(...files.map((entry, index) => {
    const tr = document.createElement("tr");
    tr.dataset.file = entry.file.name;
    const name = document.createElement("td");
    name.textContent = `${entry.file.name} (${formatSize(entry.file.size)})`;
    const format = document.createElement("td");
    const select = document.createElement("select");
    select.setAttribute("aria-label", `${t("colFormat")} ${entry.file.name}`);
    for (const value of ["pades", "xades", "cades"]) {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = FORMAT_NAMES[value];
      option.selected = value === entry.format;
      option.disabled = value === "pades" && !entry.file.name.toLowerCase().endsWith(".pdf");
      select.append(option);
    }
    select.addEventListener("change", () => { entry.format = select.value; });
    format.append(select);
    const actions = document.createElement("td");
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = t("remove");
    remove.addEventListener("click", () => { files.splice(index, 1); renderFiles(); });
    actions.append(remove);
    tr.append(name, format, actions);
    return tr;
  }));
}

function renderResult(result) {
  $("count-total").textContent = String(result.files.length);
  $("count-signed").textContent = String(result.signed);
  $("sign-verdict").textContent = result.failed ? t("signPartial") : t("signDone");
  $("sign-outputs").replaceChildren(...result.files.map((item) => {
    const block = document.createElement("div");
    block.className = `output ${item.status}`;
    block.dataset.source = item.source;
    const lines = [`${item.status === "signed" ? "✓" : "✗"} ${t("sourceFile")}${colon()}${item.source}`,
      `↳ ${t("colFormat")}${colon()}${FORMAT_NAMES[item.format] || item.format}`];
    if (item.status === "signed") {
      lines.push(`↳ ${t("generated")}${colon()}${item.output}`, `↳ ${t("destination")}${colon()}${item.folder}`);
    } else {
      lines.push(`↳ ${item.error.message}`);
    }
    for (const line of lines) {
      const p = document.createElement("div");
      p.textContent = line;
      block.append(p);
    }
    if (item.output_handle) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = t("download");
      button.addEventListener("click", () => downloadHandle(item.output_handle, item.output));
      block.append(button);
    }
    return block;
  }));
  $("sign-result").hidden = false;
}

async function sign() {
  $("sign-error").hidden = true;
  $("sign-result").hidden = true;
  const chosen = document.querySelector('input[name="certificate"]:checked');
  if (!files.length || !chosen) {
    $("sign-error").textContent = !files.length ? t("noFile") : t("noCertificate");
    $("sign-error").hidden = false;
    return;
  }
  setBusy("sign", true);
  try {
    const refs = [];
    for (const [index, entry] of files.entries()) {
      view.note(t("uploading", { i: index + 1, n: files.length }));
      refs.push({ handle: await uploadFile(entry.file), format: entry.format });
    }
    const job = await client.runJob("sign", { files: refs, certificate: chosen.value }, (snapshot) => view.update(snapshot),
      { timeout: 300000 });
    view.update(job);
    if (job.state !== "succeeded") throw new Error(jobError(job));
    renderResult(job.result);
  } catch (err) {
    $("sign-error").textContent = err.message;
    $("sign-error").hidden = false;
  } finally {
    setBusy("sign", false);
  }
}

async function loadCertificates() {
  try {
    const { certificates } = await client.call("certificates.list", { purpose: "signing" }, { timeout: 180000 });
    renderCertificates($("cert-rows"), certificates, { selectable: true });
    $("cert-table").hidden = false;
  } catch (err) {
    $("sign-error").textContent = err.message;
    $("sign-error").hidden = false;
  }
}

let reportHandle = null;

async function verify() {
  const file = $("verify-file").files[0];
  const content = $("verify-content").files[0];
  $("verify-error").hidden = true;
  $("verify-result").hidden = true;
  if (!file) return;
  setBusy("verify", true);
  try {
    $("verify-progress").hidden = false;
    $("verify-progress").textContent = t("verifying");
    const params = { handle: await uploadFile(file) };
    if (content) params.content_handle = await uploadFile(content);
    const job = await client.runJob("verify", params, (snapshot) => {
      $("verify-progress").textContent = `${t("verifying")} ${snapshot.progress} %`;
    }, { timeout: 300000 });
    if (job.state !== "succeeded") throw new Error(job.message || job.state);
    reportHandle = job.result.report_handle;
    const items = [];
    const add = (signature, prefix) => {
      const li = document.createElement("li");
      li.className = `verdict-${signature.indication}`;
      li.dataset.indication = signature.indication;
      const sub = signature.sub_indication ? ` (${signature.sub_indication})` : "";
      li.textContent = `${prefix}${signature.signer?.name ?? "?"} — ${signature.format} ${signature.level ?? ""} — ${t(signature.indication)}${sub}`;
      items.push(li);
      for (const counter of signature.countersignatures || []) add(counter, "↳ ");
    };
    for (const signature of job.result.report.signatures) add(signature, "");
    $("verify-signatures").replaceChildren(...items);
    $("verify-result").hidden = false;
  } catch (err) {
    $("verify-error").textContent = err.message;
    $("verify-error").hidden = false;
  } finally {
    $("verify-progress").hidden = true;
    setBusy("verify", false);
  }
}

async function openReport() {
  if (!reportHandle) return;
  const parts = [];
  let offset = 0;
  for (;;) {
    const chunk = await client.call("files.get", { handle: reportHandle, offset });
    const bytes = Uint8Array.from(atob(chunk.data), (c) => c.charCodeAt(0));
    parts.push(bytes);
    offset += bytes.length;
    if (chunk.eof) break;
  }
  window.open(URL.createObjectURL(new Blob(parts, { type: "text/html" })), "_blank");
}

$("verify-run").addEventListener("click", verify);
$("open-report").addEventListener("click", openReport);
$("file-input").addEventListener("change", (event) => {
  for (const file of event.target.files) files.push({ file, format: defaultFormat(file.name) });
  event.target.value = "";
  renderFiles();
});
$("load-certificates").addEventListener("click", loadCertificates);
$("sign-run").addEventListener("click", sign);
document.addEventListener("agent-status", renderFiles);
startPage();
