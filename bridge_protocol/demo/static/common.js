// Shared by the demo pages: texts (French first), the agent client and the status indicator.
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
    navHome: "Accueil", navSign: "Signer un document",
    signTitle: "Signer un document", signIntro: "Avant d'utiliser l'outil de signature, vérifiez que votre certificat de signature est bien accessible. Désignez ensuite les fichiers à signer.",
    colFile: "Fichier(s) à signer", colFormat: "Format de signature", colActions: "Actions", addFile: "Ajouter un fichier", remove: "Retirer",
    chooseCert: "Choisir le certificat", signRun: "Signer", signing: "Signature électronique du fichier {i} sur {n}",
    uploading: "Envoi du fichier {i} sur {n} à Compagnon", waitingConsent: "Confirmez dans la fenêtre de Compagnon (autorisation et code PIN).",
    signDone: "La signature électronique des fichiers sélectionnés s'est terminée avec succès.",
    signPartial: "La signature électronique s'est terminée avec des erreurs.",
    countToSign: "Nombre de fichiers à signer", countSigned: "Nombre de fichiers signés avec succès",
    sourceFile: "Fichier source", generated: "Fichier généré", destination: "Répertoire de destination", download: "Télécharger",
    noCertificate: "Choisissez un certificat.", noFile: "Ajoutez au moins un fichier.",
    verifyTitle: "Vérifier une signature", verifyIntro: "Vérifiez chaque signature d'un fichier signé (PAdES, CAdES, XAdES) avant de le déposer.",
    signedFile: "Fichier signé", contentFile: "Fichier d'origine (signature détachée)", verifyRun: "Vérifier la signature",
    openReport: "Ouvrir le rapport", verifying: "Vérification en cours…",
    TOTAL_PASSED: "Signature valide", TOTAL_FAILED: "Signature invalide", INDETERMINATE: "Validité indéterminée",
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
    navHome: "Home", navSign: "Sign a document",
    signTitle: "Sign a document", signIntro: "Before using the signing tool, check that your signing certificate is available. Then choose the files to sign.",
    colFile: "File(s) to sign", colFormat: "Signature format", colActions: "Actions", addFile: "Add a file", remove: "Remove",
    chooseCert: "Choose the certificate", signRun: "Sign", signing: "Electronic signature of file {i} of {n}",
    uploading: "Sending file {i} of {n} to Compagnon", waitingConsent: "Confirm in Compagnon's window (authorisation and PIN).",
    signDone: "The electronic signature of the selected files completed successfully.",
    signPartial: "The electronic signature completed with errors.",
    countToSign: "Number of files to sign", countSigned: "Number of files signed successfully",
    sourceFile: "Source file", generated: "Generated file", destination: "Destination folder", download: "Download",
    noCertificate: "Choose a certificate.", noFile: "Add at least one file.",
    verifyTitle: "Verify a signature", verifyIntro: "Check every signature of a signed file (PAdES, CAdES, XAdES) before you submit it.",
    signedFile: "Signed file", contentFile: "Original file (detached signature)", verifyRun: "Verify the signature",
    openReport: "Open the report", verifying: "Verifying…",
    TOTAL_PASSED: "Valid signature", TOTAL_FAILED: "Invalid signature", INDETERMINATE: "Indeterminate",
  },
};

export let locale = localStorage.getItem("demo-locale") === "en" ? "en" : "fr";
export const $ = (id) => document.getElementById(id);
const ports = JSON.parse(document.documentElement.dataset.agentPorts || "[]");
export const client = new CompagnonClient({ ports, clientName: "plateforme-demo", clientVersion: "1", locale });
const busy = new Set();

/** Mark a page action busy (its buttons stay disabled while the agent works). */
export function setBusy(name, value) {
  if (value) busy.add(name); else busy.delete(name);
  showStatus();
}

export function t(key, fields = {}) {
  return TEXT[locale][key].replace(/\{(\w+)\}/g, (_, name) => fields[name] ?? "");
}

export function applyLocale() {
  document.documentElement.lang = locale;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  $("lang").textContent = t("lang");
  showStatus();
}

export function showStatus() {
  const online = client.online;
  $("agent").className = `status ${online ? "online" : "offline"}`;
  $("agent-state").textContent = t(online ? "online" : "offline");
  $("agent-state").dataset.i18n = online ? "online" : "offline";
  $("agent-help").textContent = t(online ? "onlineHelp" : "offlineHelp");
  $("agent-help").dataset.i18n = online ? "onlineHelp" : "offlineHelp";
  $("agent-version").textContent = online ? `(${t("version")} ${client.info.version})` : "";
  for (const el of document.querySelectorAll("[data-needs-agent]")) el.disabled = !online || busy.size > 0;
  document.dispatchEvent(new CustomEvent("agent-status", { detail: { online } }));
}

export function frenchDate(iso) {
  const d = new Date(iso);
  return locale === "en" ? d.toLocaleDateString("en-GB") : d.toLocaleDateString("fr-FR");
}

/**
 * Fill a table body with certificates as the reference platform lists them: holder, issuer,
 * expiry date, and the "Conformité" column. With `selectable`, each row gets a radio button.
 */
export function renderCertificates(tbody, certificates, { selectable = false } = {}) {
  tbody.replaceChildren(...certificates.map((c, index) => {
    const tr = document.createElement("tr");
    tr.dataset.certificate = c.id;
    const who = document.createElement("td");
    const name = document.createElement("label");
    if (selectable) {
      const radio = document.createElement("input");
      radio.type = "radio";
      radio.name = "certificate";
      radio.value = c.id;
      radio.checked = index === 0 && c.suitable;
      name.append(radio, " ");
    }
    const strong = document.createElement("strong");
    strong.textContent = c.subject + (c.organization ? ` — ${c.organization}` : "");
    name.append(strong);
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
}

export function formatSize(bytes) {
  const units = locale === "en" ? ["B", "KB", "MB", "GB"] : ["o", "Ko", "Mo", "Go"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

export function startPage() {
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
}
