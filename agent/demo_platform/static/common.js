// Shared by the demo pages: texts (French first), the agent client and the status indicator.
import { CompagnonClient } from "/js/compagnon.js";
import { JobView as KitJobView } from "/js/job-view.js";

const TEXT = {
  fr: {
    title: "Plateforme de démonstration des marchés publics", agentState: "État de Compagnon :",
    online: "En ligne", offline: "Hors ligne",
    onlineHelp: "Compagnon est lancé sur votre poste, et est prêt à l'utilisation.",
    offlineHelp: "Cette fonctionnalité nécessite l'installation et l'exécution de Compagnon sur votre poste.",
    unpaired: "Non jumelé", not_yours: "Ce n'est pas votre Compagnon",
    blocked: "Accès bloqué par le navigateur", update_required: "Mise à jour requise", incompatible: "Version incompatible",
    allowAccess: "Autoriser l'accès à Compagnon", retry: "Réessayer",
    pairStart: "Jumeler ce site avec Compagnon",
    pairWaiting: "Autorisez ce site dans la fenêtre de Compagnon : elle affiche un code à 6 chiffres.",
    pairCodeLabel: "Code à 6 chiffres affiché par Compagnon :", pairConfirm: "Valider",
    pairDone: "Site jumelé avec Compagnon.",
    diagTitle: "Tester la configuration de mon poste",
    diagIntro: "Cette page de diagnostic vérifie les prérequis suivants pour répondre et ouvrir un pli électronique :",
    preOs: "Système d'exploitation", preEnv: "Version de l'environnement présent",
    preStore: "Accès au magasin de certificats", preBrowser: "Version du navigateur Web",
    preServer: "Communication avec le serveur", diagRun: "Lancer le test de configuration de mon poste",
    cancel: "Annuler", colPre: "Prérequis", colRes: "Résultat", version: "version", lang: "English",
    certTitle: "Mes certificats", certIntro: "Les certificats de votre poste (carte à puce, clé USB, certificat logiciel) utilisables pour signer.",
    certRun: "Afficher mes certificats", colCert: "Certificat(s) disponible(s)", colConf: "Conformité",
    certEmpty: "Aucun certificat avec clé privée n'a été trouvé sur ce poste.",
    suitable: "Adapté pour les marchés publics", notSuitable: "Non adapté", issuer: "Émetteur", expires: "Date d'expiration",
    navHome: "Accueil", navSign: "Signer", navDepot: "Déposer une offre", navKeys: "Clés de chiffrement",
    navOpen: "Ouverture et analyse",
    signTitle: "Signer un document", signIntro: "Avant d'utiliser l'outil de signature, vérifiez que votre certificat de signature est bien accessible. Désignez ensuite les fichiers à signer.",
    colFile: "Fichier(s) à signer", colFormat: "Format de signature", colActions: "Actions", addFile: "Ajouter un fichier", remove: "Retirer",
    chooseCert: "Choisir le certificat", signRun: "Signer", signing: "Signature électronique du fichier {i} sur {n}",
    uploading: "Envoi du fichier {i} sur {n} à Compagnon",
    jobStarting: "Démarrage dans Compagnon…",
    signDone: "La signature électronique des fichiers sélectionnés s'est terminée avec succès.",
    signPartial: "La signature électronique s'est terminée avec des erreurs.",
    countToSign: "Nombre de fichiers à signer", countSigned: "Nombre de fichiers signés avec succès",
    sourceFile: "Fichier source", generated: "Fichier généré", destination: "Répertoire de destination", download: "Télécharger",
    noCertificate: "Choisissez un certificat.", noFile: "Ajoutez au moins un fichier.",
    verifyTitle: "Vérifier une signature", verifyIntro: "Vérifiez chaque signature d'un fichier signé (PAdES, CAdES, XAdES) avant de le déposer.",
    signedFile: "Fichier signé", contentFile: "Fichier d'origine (signature détachée)", verifyRun: "Vérifier la signature",
    openReport: "Ouvrir le rapport", verifying: "Vérification en cours…",
    TOTAL_PASSED: "Signature valide", TOTAL_FAILED: "Signature invalide", INDETERMINATE: "Validité indéterminée",
    speedUnit: "Ko/s", fileError: "{name} : {error}",
    consultationRef: "Référence", consultationTitle: "Objet", consultation: "Consultation",
    keysTitle: "Clés de chiffrement",
    keysIntro: "Les bi-clés de chiffrement de l'acheteur : les entreprises chiffrent leurs plis pour chacun de ces certificats (bi-clés personnels et de secours).",
    colKeyName: "Nom", colKeyType: "Type", colKeyFingerprint: "Empreinte SHA-256", colKeyExpires: "Expire le",
    keyPersonal: "Personnelle", keySecours: "Secours", keysEmpty: "Aucune clé de chiffrement n'est enregistrée.",
    keyAddTitle: "Ajouter un bi-clé", keyNameLabel: "Nom du bi-clé", keySecoursLabel: "Bi-clé de secours",
    keyAdd: "Ajouter un bi-clé", keyNameMissing: "Saisissez le nom du bi-clé.",
    keyDone: "Le bi-clé « {name} » a été créé et enregistré sur la plateforme.",
    keyNotRegistered: "Le bi-clé « {name} » a été créé mais n'a pas été enregistré sur la plateforme : {error}",
    keyLocation: "Emplacement : {location}",
    depotTitle: "Déposer une offre",
    depotIntro: "Compagnon chiffre vos fichiers sur votre poste avec les clés de chiffrement de l'acheteur, puis les dépose : seul l'acheteur pourra les ouvrir.",
    companyLabel: "Nom de l'entreprise", depotFilesLabel: "Fichiers de votre offre", depotSend: "Chiffrer et déposer",
    companyMissing: "Saisissez le nom de l'entreprise.",
    noRecipients: "Aucune clé de chiffrement n'est enregistrée pour cette consultation.",
    depotDone: "Votre pli a été chiffré et déposé.", depotFailed: "Le dépôt de votre pli a échoué.",
    depotFileDone: "{source} → {output} : déposé",
    depotLast: "Votre dernier dépôt sur cette consultation ({time}), gardé par Compagnon avec son accusé de réception :",
    receiptTitle: "Accusé de réception", receiptLine: "N° {id} — {pli}, reçu par la plateforme le {time}",
    colReceiptFile: "Fichier reçu", colSize: "Taille", colSha: "Empreinte SHA-256",
    receiptMatched: "attesté", receiptMissing: "absent de l'accusé de réception",
    openTitle: "Ouverture et analyse", colSelect: "Sélection", colPli: "N° du pli", colCompany: "Entreprise",
    colContent: "Contenu (en ligne)", colEnvelopeStatus: "Statut enveloppe", sealed: "chiffré", opened: "déchiffré",
    envelopeClosed: "Fermée", envelopeOpened: "Ouverte en ligne", selectPli: "Sélectionner {label}",
    openOnline: "Ouvrir en ligne", downloadSealed: "Télécharger les plis chiffrés",
    plisEmpty: "Aucun pli n'a été déposé pour cette consultation.",
    deadlineLabel: "Date limite de remise des plis", deadlineNotSet: "non fixée",
    deadlineWait: "ouverture possible dans {n} s", deadlinePassed: "passée : les plis peuvent être ouverts",
    deadlineIn: "Clore le dépôt dans (secondes)", deadlineSet: "Fixer la date limite",
    deadlineBlocked: "Les plis ne peuvent pas être ouverts avant la date limite de remise.",
    openJobTitle: "Ouverture et déchiffrement en ligne", downloadJobTitle: "Téléchargement des plis chiffrés",
    jobReference: "Référence de la consultation concernée : {reference}",
    jobEnvelopes: "Nombre d'enveloppes à ouvrir/déchiffrer : {n}", jobPlis: "Nombre de plis à télécharger : {n}",
    openDone: "Ouverture terminée : {n} fichier(s) déchiffré(s) et transmis à la plateforme.",
    openNotUploaded: "{n} fichier(s) déchiffré(s) mais non transmis à la plateforme.",
    downloadDone: "Plis téléchargés dans {folder}",
    openedTitle: "Fichiers ouverts et vérification de leurs signatures", colOpenedFile: "Fichier ouvert",
    colVerdict: "Signatures", colSigners: "Signataire(s)", openFile: "Ouvrir", notSigned: "Non signé",
    notChecked: "Non vérifié", signedBy: "signé par {names}",
  },
  en: {
    title: "Public procurement demo platform", agentState: "Compagnon status:",
    online: "Online", offline: "Offline",
    onlineHelp: "Compagnon is running on your workstation and ready.",
    offlineHelp: "This feature needs Compagnon installed and running on your workstation.",
    unpaired: "Not paired", not_yours: "This is not your Compagnon",
    blocked: "Blocked by the browser", update_required: "Update required", incompatible: "Incompatible version",
    allowAccess: "Allow access to Compagnon", retry: "Try again",
    pairStart: "Pair this site with Compagnon",
    pairWaiting: "Allow this site in Compagnon's window: it shows a 6-digit code.",
    pairCodeLabel: "6-digit code shown by Compagnon:", pairConfirm: "Confirm",
    pairDone: "Site paired with Compagnon.",
    diagTitle: "Test my workstation", diagIntro: "This page checks the prerequisites to answer and open an electronic bid:",
    preOs: "Operating system", preEnv: "Runtime environment", preStore: "Certificate store access",
    preBrowser: "Web browser version", preServer: "Communication with the server",
    diagRun: "Run the workstation test", cancel: "Cancel", colPre: "Prerequisite", colRes: "Result",
    version: "version", lang: "Français",
    certTitle: "My certificates", certIntro: "The certificates of your workstation (smart card, USB token, software certificate) that can sign.",
    certRun: "Show my certificates", colCert: "Available certificate(s)", colConf: "Compliance",
    certEmpty: "No certificate with a private key was found on this workstation.",
    suitable: "Suitable for public procurement", notSuitable: "Not suitable", issuer: "Issuer", expires: "Expiry date",
    navHome: "Home", navSign: "Sign", navDepot: "Submit a bid", navKeys: "Encryption keys",
    navOpen: "Opening and analysis",
    signTitle: "Sign a document", signIntro: "Before using the signing tool, check that your signing certificate is available. Then choose the files to sign.",
    colFile: "File(s) to sign", colFormat: "Signature format", colActions: "Actions", addFile: "Add a file", remove: "Remove",
    chooseCert: "Choose the certificate", signRun: "Sign", signing: "Electronic signature of file {i} of {n}",
    uploading: "Sending file {i} of {n} to Compagnon",
    jobStarting: "Starting in Compagnon…",
    signDone: "The electronic signature of the selected files completed successfully.",
    signPartial: "The electronic signature completed with errors.",
    countToSign: "Number of files to sign", countSigned: "Number of files signed successfully",
    sourceFile: "Source file", generated: "Generated file", destination: "Destination folder", download: "Download",
    noCertificate: "Choose a certificate.", noFile: "Add at least one file.",
    verifyTitle: "Verify a signature", verifyIntro: "Check every signature of a signed file (PAdES, CAdES, XAdES) before you submit it.",
    signedFile: "Signed file", contentFile: "Original file (detached signature)", verifyRun: "Verify the signature",
    openReport: "Open the report", verifying: "Verifying…",
    TOTAL_PASSED: "Valid signature", TOTAL_FAILED: "Invalid signature", INDETERMINATE: "Indeterminate",
    speedUnit: "KB/s", fileError: "{name}: {error}",
    consultationRef: "Reference", consultationTitle: "Subject", consultation: "Consultation",
    keysTitle: "Encryption keys",
    keysIntro: "The buyer's encryption key pairs: companies encrypt their bids for each of these certificates (personal and backup key pairs).",
    colKeyName: "Name", colKeyType: "Type", colKeyFingerprint: "SHA-256 fingerprint", colKeyExpires: "Expires on",
    keyPersonal: "Personal", keySecours: "Backup", keysEmpty: "No encryption key is registered.",
    keyAddTitle: "Add a key pair", keyNameLabel: "Key pair name", keySecoursLabel: "Backup key pair",
    keyAdd: "Add a key pair", keyNameMissing: "Enter the key pair's name.",
    keyDone: "The key pair “{name}” was created and registered with the platform.",
    keyNotRegistered: "The key pair “{name}” was created but not registered with the platform: {error}",
    keyLocation: "Location: {location}",
    depotTitle: "Submit a bid",
    depotIntro: "Compagnon encrypts your files on your workstation with the buyer's encryption keys, then submits them: only the buyer can open them.",
    companyLabel: "Company name", depotFilesLabel: "Files of your bid", depotSend: "Encrypt and submit",
    companyMissing: "Enter the company name.",
    noRecipients: "No encryption key is registered for this consultation.",
    depotDone: "Your bid was encrypted and submitted.", depotFailed: "Submitting your bid failed.",
    depotFileDone: "{source} → {output}: submitted",
    depotLast: "Your last deposit on this consultation ({time}), kept by Compagnon with its receipt:",
    receiptTitle: "Receipt", receiptLine: "No. {id} — {pli}, received by the platform on {time}",
    colReceiptFile: "File received", colSize: "Size", colSha: "SHA-256 fingerprint",
    receiptMatched: "acknowledged", receiptMissing: "missing from the receipt",
    openTitle: "Opening and analysis", colSelect: "Selection", colPli: "Bid no.", colCompany: "Company",
    colContent: "Content (online)", colEnvelopeStatus: "Envelope status", sealed: "encrypted", opened: "decrypted",
    envelopeClosed: "Closed", envelopeOpened: "Opened online", selectPli: "Select {label}",
    openOnline: "Open online", downloadSealed: "Download the sealed bids",
    plisEmpty: "No bid has been submitted for this consultation.",
    deadlineLabel: "Deadline for bids", deadlineNotSet: "not set",
    deadlineWait: "opening possible in {n} s", deadlinePassed: "passed: the bids can be opened",
    deadlineIn: "Close submissions in (seconds)", deadlineSet: "Set the deadline",
    deadlineBlocked: "The bids cannot be opened before the deadline for bids.",
    openJobTitle: "Online opening and decryption", downloadJobTitle: "Downloading the sealed bids",
    jobReference: "Consultation concerned: {reference}",
    jobEnvelopes: "Number of envelopes to open/decrypt: {n}", jobPlis: "Number of bids to download: {n}",
    openDone: "Opening complete: {n} file(s) decrypted and sent to the platform.",
    openNotUploaded: "{n} file(s) decrypted but not sent to the platform.",
    downloadDone: "Bids downloaded to {folder}",
    openedTitle: "Opened files and their signatures", colOpenedFile: "Opened file",
    colVerdict: "Signatures", colSigners: "Signer(s)", openFile: "Open", notSigned: "Not signed",
    notChecked: "Not checked", signedBy: "signed by {names}",
  },
};

export let locale = localStorage.getItem("demo-locale") === "en" ? "en" : "fr";
export const $ = (id) => document.getElementById(id);
const ports = JSON.parse(document.documentElement.dataset.agentPorts || "[]");
const minVersion = document.documentElement.dataset.minVersion || null;
export const client = new CompagnonClient({ ports, clientName: "plateforme-demo", clientVersion: "1", locale, minVersion });
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
  for (const view of views) view.refresh();
  showStatus();
}

/** The states the status line names; any other shows "Hors ligne". */
const NAMED_STATES = ["unpaired", "not_yours", "blocked", "update_required", "incompatible"];

export function showStatus() {
  const state = client.state;
  const ready = client.online && state === "paired";
  const label = ready ? "online" : NAMED_STATES.includes(state) ? state : "offline";
  $("agent").className = `status ${ready ? "online" : "offline"}${state === "not_yours" ? " not-yours" : ""}`;
  $("agent").dataset.state = state;
  if (state === "blocked") $("agent").dataset.reason = client.blockedReason; else delete $("agent").dataset.reason;
  $("agent-state").textContent = t(label);
  $("agent-state").dataset.i18n = label;
  // What to do in each state comes from the client, in the page's language.
  const help = ready ? t("onlineHelp") : client.stateMessage() || t("offlineHelp");
  $("agent-help").textContent = help;
  delete $("agent-help").dataset.i18n;
  $("agent-allow").hidden = !(state === "blocked" && client.blockedReason === "prompt");
  $("agent-retry").hidden = !(state === "blocked" && client.blockedReason === "denied");
  $("agent-version").textContent = client.online ? `(${t("version")} ${client.info.version})` : "";
  $("pairing").hidden = !(client.online && state === "unpaired") && state !== "not_yours";
  for (const el of document.querySelectorAll("[data-needs-agent]")) el.disabled = !ready || busy.size > 0;
  document.dispatchEvent(new CustomEvent("agent-status", { detail: { online: ready } }));
}

/** The pairing panel: Compagnon shows a code in its own window, the user types it here. */
async function startPairing() {
  const error = $("pair-error");
  error.hidden = true;
  $("pair-start").disabled = true;
  try {
    await client.pair({
      onWaiting: () => { $("pair-status").textContent = t("pairWaiting"); },
      readCode: () => new Promise((resolve) => {
        $("pair-code-row").hidden = false;
        $("pair-code").value = "";
        $("pair-code").focus();
        $("pair-confirm").onclick = () => resolve($("pair-code").value);
      }),
    });
    $("pair-status").textContent = t("pairDone");
  } catch (err) {
    $("pair-status").textContent = "";
    error.textContent = err.message;
    error.dataset.code = err.code || "";
    error.hidden = false;
  } finally {
    $("pair-code-row").hidden = true;
    $("pair-start").disabled = false;
    showStatus();
  }
}

/** A date and time in the page's language ("07/12/2026 05:40:12"), the reader's time zone. */
export function localDateTime(iso) {
  return new Date(iso).toLocaleString(locale === "en" ? "en-GB" : "fr-FR");
}

/** ": " as the page's language writes it (a space before it in French only). */
export function colon() {
  return locale === "en" ? ": " : " : ";
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
    details.textContent = `${t("issuer")}${colon()}${c.issuer} · ${t("expires")}${colon()}${frenchDate(c.not_after)} · ${c.source.label}`;
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

/** A number in the page's language ("1 234,5" in French), at most `digits` decimals. */
export function formatNumber(value, digits = 1) {
  return value.toLocaleString(locale === "en" ? "en-GB" : "fr-FR", { maximumFractionDigits: digits });
}

/** A size as the reference platform shows it: "96 Ko", "1,5 Mo" (French units and decimals). */
export function formatSize(bytes) {
  const units = locale === "en" ? ["B", "KB", "MB", "GB"] : ["o", "Ko", "Mo", "Go"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${formatNumber(value, unit ? 1 : 0)} ${units[unit]}`;
}

/** A transfer speed (bytes per second) in Ko/s. */
export function formatSpeed(bytesPerSecond) {
  return `${formatNumber(bytesPerSecond / 1024)} ${t("speedUnit")}`;
}

/** True when the agent is online and no page action is running (buttons may be enabled). */
export function agentAvailable() {
  return client.online && client.state === "paired" && busy.size === 0;
}

/**
 * Fetch JSON from the platform (the demo's own back end), with a bearer `token` and a `json`
 * body when given; throws an Error carrying the platform's `error` message on a failure status.
 */
export async function fetchJson(url, { method = "GET", token, json } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  const response = await fetch(url, { method, headers, body, cache: "no-store" });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new Error((data && data.error) || `HTTP ${response.status}`);
  return data;
}

/**
 * A short-lived bearer token from the platform, for its API and for the agent's jobs: the
 * consultation's own token when `consultation` is given, else a general one.
 */
export async function platformToken(consultation) {
  const url = consultation ? `/api/consultations/${encodeURIComponent(consultation)}/token` : "/api/token";
  return (await fetchJson(url, { method: "POST" })).token;
}

const CHUNK = 384 * 1024; // base64 of it fits well under the agent's 1 MiB frame limit

function base64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** Hand a browser File over to the agent in chunks (`files.put`); resolves with its handle. */
export async function uploadFile(file) {
  let handle = null;
  const size = file.size;
  for (let start = 0; start < Math.max(size, 1); start += CHUNK) {
    const bytes = new Uint8Array(await file.slice(start, start + CHUNK).arrayBuffer());
    const params = { data: base64(bytes), final: start + CHUNK >= size };
    if (handle) params.handle = handle; else params.name = file.name;
    handle = (await client.call("files.put", params, { timeout: 60000 })).handle;
  }
  return handle;
}

const views = new Set();

/**
 * The view of a job shared by the pages, the platform kit's (bridge_protocol/js/job-view.js, served
 * as /js/job-view.js) bound to this page's client and language: `new JobView(container)`, then
 * `note(text)` before the job starts and `update(snapshot)` as it runs.
 */
export class JobView extends KitJobView {
  constructor(container) {
    super(container, { client, locale: () => locale });
    views.add(this);
  }
}

/** The content of a file the agent holds for this page (`files.get`, piece by piece), as a Blob. */
export async function handleBlob(handle, type = "application/octet-stream") {
  const parts = [];
  let offset = 0;
  for (;;) {
    const chunk = await client.call("files.get", { handle, offset });
    const bytes = Uint8Array.from(atob(chunk.data), (c) => c.charCodeAt(0));
    parts.push(bytes);
    offset += bytes.length;
    if (chunk.eof) break;
  }
  return new Blob(parts, { type });
}

/** Save the file the agent holds for this page under `name` (the browser's download). */
export async function downloadHandle(handle, name) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await handleBlob(handle));
  link.download = name;
  link.click();
}

/** Show a verdict in `el`: a success (green) or an error message (red). */
export function showVerdict(el, text, ok = true) {
  el.textContent = text;
  el.className = ok ? "verdict" : "error";
  el.hidden = !text;
}

/** The error message of a job that did not succeed. */
export function jobError(job) {
  return (job.error && job.error.message) || job.message || job.state;
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
  client.addEventListener("state", showStatus);
  $("pair-start").addEventListener("click", startPairing);
  // A click: the browser may ask the user for its loopback-network permission now.
  $("agent-allow").addEventListener("click", () => client.connect({ userGesture: true }));
  $("agent-retry").addEventListener("click", () => client.connect({ userGesture: true }));
  applyLocale();
  client.connect();
}
