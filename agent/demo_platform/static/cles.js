// Buyer page "Clés de chiffrement": the encryption keys registered with the platform, and
// "Ajouter un bi-clé", which runs the agent's keygen job and registers the new certificate.
import {
  $, JobView, client, fetchJson, frenchDate, jobError, platformToken, setBusy, showVerdict, startPage, t,
} from "./common.js";

const view = new JobView($("keygen-job"));
let keys = null; // the registered keys, once loaded

/** "AB:CD:EF:…": the first bytes of a SHA-256 fingerprint, for a table. */
function shortFingerprint(sha256) {
  return `${sha256.slice(0, 16).toUpperCase().match(/../g).join(":")}…`;
}

function renderKeys() {
  $("key-rows").replaceChildren(...keys.map((key) => {
    const tr = document.createElement("tr");
    tr.dataset.key = key.id;
    const cells = [key.name, t(key.secours ? "keySecours" : "keyPersonal"), shortFingerprint(key.sha256),
      frenchDate(key.not_after)];
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    tr.children[2].title = key.sha256;
    tr.children[2].className = "mono";
    return tr;
  }));
  $("key-table").hidden = keys.length === 0;
  $("key-empty").hidden = keys.length !== 0;
}

async function loadKeys() {
  try {
    keys = await fetchJson("/api/keys", { token: await platformToken() });
    $("key-error").hidden = true;
    renderKeys();
  } catch (err) {
    $("key-error").textContent = err.message;
    $("key-error").hidden = false;
  }
}

async function addKey(event) {
  event.preventDefault();
  const name = $("key-name").value.trim();
  $("keygen-location").hidden = true;
  if (!name) {
    showVerdict($("keygen-verdict"), t("keyNameMissing"), false);
    return;
  }
  showVerdict($("keygen-verdict"), "");
  setBusy("keygen", true);
  try {
    view.note(t("jobStarting"));
    const token = await platformToken();
    const params = { name, secours: $("key-secours").checked, register_url: "/api/keys", token };
    const job = await client.runJob("keygen", params, (snapshot) => view.update(snapshot), { timeout: 300000 });
    if (job.state !== "succeeded") throw new Error(jobError(job));
    const result = job.result;
    if (result.registered) {
      showVerdict($("keygen-verdict"), t("keyDone", { name: result.name }));
      $("key-name").value = "";
    } else {
      const error = result.register_error ? result.register_error.message : "";
      showVerdict($("keygen-verdict"), t("keyNotRegistered", { name: result.name, error }), false);
    }
    $("keygen-location").textContent = t("keyLocation", { location: result.location });
    $("keygen-location").hidden = false;
  } catch (err) {
    showVerdict($("keygen-verdict"), err.message, false);
  } finally {
    setBusy("keygen", false);
    await loadKeys();
  }
}

$("keygen-form").addEventListener("submit", addKey);
document.addEventListener("agent-status", () => { if (keys) renderKeys(); }); // texts after a language change
startPage();
loadKeys();
