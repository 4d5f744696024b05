// Demo platform page: agent status and "Tester la configuration de mon poste".
import { CompagnonClient } from "/js/compagnon.js";

const TEXT = {
  fr: {
    title: "Plateforme de démonstration des marchés publics", agentState: "État de Compagnon :",
    online: "En ligne", offline: "Hors ligne",
    onlineHelp: "Compagnon est lancé sur votre poste, et est prêt à l'utilisation.",
    offlineHelp: "Cette fonctionnalité nécessite l'installation et l'exécution de Compagnon sur votre poste.",
    diagTitle: "Tester la configuration de mon poste",
    diagIntro: "Cette page de diagnostic vérifie les prérequis suivants pour répondre et ouvrir un pli électronique :",
    preOs: "Système d'exploitation", preEnv: "Version de l'environnement présent",
    preStore: "Accès au magasin de certificats", preBrowser: "Version du navigateur Web",
    preServer: "Communication avec le serveur", diagRun: "Lancer le test de configuration de mon poste",
    cancel: "Annuler", colPre: "Prérequis", colRes: "Résultat", version: "version", lang: "English",
  },
  en: {
    title: "Public procurement demo platform", agentState: "Compagnon status:",
    online: "Online", offline: "Offline",
    onlineHelp: "Compagnon is running on your workstation and ready.",
    offlineHelp: "This feature needs Compagnon installed and running on your workstation.",
    diagTitle: "Test my workstation", diagIntro: "This page checks the prerequisites to answer and open an electronic bid:",
    preOs: "Operating system", preEnv: "Runtime environment", preStore: "Certificate store access",
    preBrowser: "Web browser version", preServer: "Communication with the server",
    diagRun: "Run the workstation test", cancel: "Cancel", colPre: "Prerequisite", colRes: "Result",
    version: "version", lang: "Français",
  },
};

let locale = localStorage.getItem("demo-locale") === "en" ? "en" : "fr";
const $ = (id) => document.getElementById(id);
const ports = JSON.parse(document.documentElement.dataset.agentPorts || "[]");
const client = new CompagnonClient({ ports, clientName: "plateforme-demo", clientVersion: "1", locale });
let currentJob = null;

function t(key) { return TEXT[locale][key]; }

function applyLocale() {
  document.documentElement.lang = locale;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  $("lang").textContent = t("lang");
  showStatus();
}

function showStatus() {
  const online = client.online;
  $("agent").className = `status ${online ? "online" : "offline"}`;
  $("agent-state").textContent = t(online ? "online" : "offline");
  $("agent-state").dataset.i18n = online ? "online" : "offline";
  $("agent-help").textContent = t(online ? "onlineHelp" : "offlineHelp");
  $("agent-help").dataset.i18n = online ? "onlineHelp" : "offlineHelp";
  $("agent-version").textContent = online ? `(${t("version")} ${client.info.version})` : "";
  $("run-diagnose").disabled = !online || currentJob !== null;
}

function renderJob(job) {
  $("diag-progress").hidden = false;
  $("diag-bar").value = job.progress;
  $("diag-percent").textContent = `${job.progress} %`;
  const list = $("diag-steps");
  list.replaceChildren(...job.steps.map((step) => {
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
  $("run-diagnose").disabled = true;
  try {
    const job = await client.runJob("diagnose", { user_agent: navigator.userAgent }, (snapshot) => {
      currentJob = snapshot;
      $("cancel-diagnose").hidden = false;
      renderJob(snapshot);
    }, { locale });
    if (job.state === "succeeded") renderResult(job.result);
    else throw Object.assign(new Error(job.message || job.state), { code: job.error?.code });
  } catch (err) {
    $("diag-error").textContent = err.message;
    $("diag-error").hidden = false;
  } finally {
    currentJob = null;
    $("cancel-diagnose").hidden = true;
    showStatus();
  }
}

$("run-diagnose").addEventListener("click", runDiagnose);
$("cancel-diagnose").addEventListener("click", () => currentJob && client.cancelJob(currentJob.id).catch(() => {}));
$("lang").addEventListener("click", () => {
  locale = locale === "fr" ? "en" : "fr";
  localStorage.setItem("demo-locale", locale);
  client.locale = locale;
  applyLocale();
});
client.addEventListener("online", showStatus);
client.addEventListener("offline", showStatus);
applyLocale();
client.connect();
