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
    certTitle: "Mes certificats", certIntro: "Les certificats de votre poste (carte à puce, clé USB, certificat logiciel) utilisables pour signer.",
    certRun: "Afficher mes certificats", colCert: "Certificat(s) disponible(s)", colConf: "Conformité",
    certEmpty: "Aucun certificat avec clé privée n'a été trouvé sur ce poste.",
    suitable: "Adapté pour les marchés publics", notSuitable: "Non adapté", issuer: "Emetteur", expires: "Date d'expiration",
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
    certTitle: "My certificates", certIntro: "The certificates of your workstation (smart card, USB token, software certificate) that can sign.",
    certRun: "Show my certificates", colCert: "Available certificate(s)", colConf: "Compliance",
    certEmpty: "No certificate with a private key was found on this workstation.",
    suitable: "Suitable for public procurement", notSuitable: "Not suitable", issuer: "Issuer", expires: "Expiry date",
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
  $("list-certificates").disabled = !online;
}

function frenchDate(iso) {
  const d = new Date(iso);
  return locale === "en" ? d.toLocaleDateString("en-GB") : d.toLocaleDateString("fr-FR");
}

async function listCertificates() {
  $("cert-error").hidden = true;
  try {
    const { certificates } = await client.call("certificates.list", { purpose: "signing" }, { timeout: 180000 });
    $("cert-rows").replaceChildren(...certificates.map((c) => {
      const tr = document.createElement("tr");
      tr.dataset.certificate = c.id;
      const who = document.createElement("td");
      const name = document.createElement("strong");
      name.textContent = c.subject + (c.organization ? ` — ${c.organization}` : "");
      const details = document.createElement("div");
      details.className = "note";
      details.textContent = `${t("issuer")} : ${c.issuer}  ${t("expires")} : ${frenchDate(c.not_after)}  (${c.source.label})`;
      who.append(name, details);
      const conformity = document.createElement("td");
      conformity.className = c.suitable ? "pass" : "fail";
      conformity.textContent = c.suitable ? t("suitable") : t("notSuitable");
      for (const reason of c.reasons) {
        const r = document.createElement("div");
        r.className = "note";
        r.textContent = reason;
        conformity.append(r);
      }
      tr.append(who, conformity);
      return tr;
    }));
    $("cert-table").hidden = certificates.length === 0;
    $("cert-empty").hidden = certificates.length !== 0;
  } catch (err) {
    $("cert-error").textContent = err.message;
    $("cert-error").hidden = false;
  }
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
$("list-certificates").addEventListener("click", listCertificates);
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
