// Compagnon browser client (ES module), bridge protocol 1.
//
// Finds the agent on ws://127.0.0.1:47230-47233/bridge (then 47234-47329, where many users' agents
// share a machine; the port where this site's own agent last proved the pairing key is tried
// first), says hello, keeps an online/offline state with automatic reconnection, calls methods
// with timeouts and follows jobs.
//
// Pairing (PROTOCOL.md "Pairing"): the Origin header proves nothing outside a browser, so the page
// and the user's agent share a key per site, set once by `pair()` (ECDH, a commitment, a six-digit
// code the agent shows in its own window and the user types in the page, which the agent checks
// before it keeps the key) and kept as a
// non-extractable WebCrypto HMAC key in this origin's IndexedDB. On every connection the agent
// proves it holds the key BEFORE the page sends anything else (`agent.auth`); an agent that cannot
// (another user's, or a rogue program on the port) puts the client in state "not_yours" and is sent
// nothing more: no request, no token, no file.
//
// States (`client.state`, PROTOCOL.md "Page states"): "unpaired" and "paired" (online), "offline"
// (nothing answers: not installed or not running), "blocked" (the browser refuses this page local
// access; `client.blockedReason` says why: "prompt", "denied", "insecure", "frame"),
// "update_required" (the agent is older than this page needs), "incompatible" (the agent no
// longer speaks this page's protocol), "not_yours" (another program answered). `stateMessage()`
// tells the user what to do, in the client's language.
//
// Local Network Access (Chrome, Edge): a page of a public origin reaches 127.0.0.1 only with the
// "loopback-network" permission (or the LoopbackNetworkAllowedForUrls policy). While it is
// "prompt", the client does not probe on its own (the browser would ask the user out of the
// blue, and a dismissed question counts as a refusal): it waits in "blocked"/"prompt" until
// `connect()` is called from a click, which raises the browser's question. A page served over
// http (not a secure context) or framed without allow="loopback-network" is refused outright.

export const PROTOCOL = 1;
/** Where an agent listens first, then where agents go on a shared machine (PROTOCOL.md section 1). */
export const FIRST_PORTS = Object.freeze([47230, 47231, 47232, 47233]);
export const SHARED_PORTS = Object.freeze(Array.from({ length: 96 }, (_, i) => 47234 + i));
export const DEFAULT_PORTS = Object.freeze([...FIRST_PORTS, ...SHARED_PORTS]);
/** localStorage key of the port where this site's own agent last proved the pairing key. */
const REMEMBERED_PORT = "compagnon.port";
/** localStorage key set when this browser let a click reach the agent while its permission read "prompt". */
const UNGATED = "compagnon.loopback-ungated";
/** Permission names, newest first: "loopback-network" (Chromium 156, Firefox 153), earlier Chromium "local-network-access". */
const PERMISSION_NAMES = Object.freeze(["loopback-network", "local-network-access"]);

function stored(key) {
  try {
    return localStorage.getItem(key);
  } catch (_) {
    return null; // storage disabled
  }
}

function store(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch (_) {
    /* storage disabled: nothing to remember */
  }
}

/** True when this page itself is on the loopback address: the browser lets it reach 127.0.0.1. */
function loopbackPage() {
  const host = location.hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host.endsWith(".localhost") || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** False when this document is a frame whose embedder did not delegate loopback access (allow=). */
function frameAllowed() {
  let framed;
  try {
    framed = window.top !== window.self;
  } catch (_) {
    framed = true;
  }
  const policy = document.permissionsPolicy || document.featurePolicy;
  if (!framed || !policy || typeof policy.allowsFeature !== "function") return true;
  const known = typeof policy.features === "function" ? policy.features() : PERMISSION_NAMES;
  const name = PERMISSION_NAMES.find((n) => known.includes(n));
  return name === undefined || policy.allowsFeature(name);
}

/** Numeric comparison of "x.y.z" versions (pre-release and build parts ignored). */
function olderThan(version, minimum) {
  const parts = (v) => String(v).split(/[-+]/)[0].split(".").map((n) => Number.parseInt(n, 10) || 0);
  const a = parts(version);
  const b = parts(minimum);
  for (let i = 0; i < 3; i++) if ((a[i] || 0) !== (b[i] || 0)) return (a[i] || 0) < (b[i] || 0);
  return false;
}

function rememberedPort() {
  const port = Number(stored(REMEMBERED_PORT));
  return Number.isInteger(port) && port > 0 ? port : null;
}

function rememberPort(port) {
  store(REMEMBERED_PORT, String(port));
}
export const TERMINAL_STATES = Object.freeze(["succeeded", "failed", "cancelled", "interrupted"]);

/** An error answered by the agent (code is the stable string of error.data.code) or by the client. */
export class CompagnonError extends Error {
  constructor(code, message, data = {}) {
    super(message);
    this.name = "CompagnonError";
    this.code = code;
    this.data = data;
  }
}

/** Methods sent before the agent proved it holds the site's key. */
const OPEN_METHODS = Object.freeze(["agent.hello", "agent.pair", "agent.auth"]);
/**
 * Methods whose answer waits for the user in the agent's own UI (PROTOCOL.md "Consent"): they get
 * the agent's consent timeout (agent.hello `consent_timeout`) and a margin, not the default timeout.
 */
export const WAITS_FOR_USER = Object.freeze(["agent.pair", "certificates.list", "files.pick"]);
/** Added to the agent's consent timeout for the calls that wait for the user (ms). */
const USER_MARGIN_MS = 10000;

export const MESSAGES = Object.freeze({
  fr: {
    not_yours:
      "Le programme qui répond sur ce poste n'est pas votre Compagnon (il ne connaît pas le secret de " +
      "jumelage de ce site) : rien ne lui a été envoyé. Fermez-le ou démarrez Compagnon, puis rechargez la page. " +
      "Si vous avez retiré ce site de Compagnon, jumelez-le à nouveau.",
    code_mismatch:
      "Ce code ne correspond pas : un autre programme a peut-être répondu à la place de Compagnon.",
    unpaired: "Ce site n'est pas encore jumelé avec Compagnon.",
    offline:
      "Compagnon ne répond pas sur ce poste : vérifiez qu'il est installé et démarré (son icône est près de " +
      "l'horloge). La page le retrouvera d'elle-même dès qu'il sera lancé.",
    blocked_prompt:
      "Votre navigateur demande votre accord avant que ce site communique avec Compagnon sur votre poste. " +
      "Cliquez sur « Autoriser l'accès à Compagnon », puis acceptez la demande du navigateur " +
      "(« Accéder à d'autres applis et services sur cet appareil »).",
    blocked_denied:
      "Votre navigateur empêche ce site de communiquer avec Compagnon. Pour l'autoriser : cliquez sur l'icône " +
      "à gauche de l'adresse du site, ouvrez « Paramètres des sites » et réglez « Applis sur l'appareil » sur " +
      "« Autoriser », puis rechargez la page. Si ce réglage est verrouillé par votre organisation, demandez à " +
      "votre service informatique d'autoriser ce site (règle LoopbackNetworkAllowedForUrls).",
    blocked_insecure:
      "Cette page n'est pas servie en HTTPS : le navigateur lui interdit de communiquer avec Compagnon. " +
      "Ouvrez la plateforme à son adresse en https:// ou signalez-le à son support.",
    blocked_frame:
      "Ce service est affiché dans un cadre que la page de la plateforme n'autorise pas à communiquer avec " +
      "Compagnon. Ouvrez-le dans un nouvel onglet ou signalez-le au support de la plateforme (l'iframe doit " +
      "porter allow=\"loopback-network\").",
    update_required:
      "La version de Compagnon installée sur votre poste{version} est trop ancienne pour ce site. " +
      "Mettez Compagnon à jour : la page se reconnectera ensuite d'elle-même.",
    incompatible:
      "Cette page ne parle pas la version du protocole de Compagnon installée sur votre poste{version}. " +
      "Rechargez la page ; si le problème persiste, signalez-le au support de la plateforme.",
  },
  en: {
    not_yours:
      "The program answering on this computer is not your Compagnon (it does not know this site's pairing " +
      "secret): nothing was sent to it. Close it or start Compagnon, then reload the page. If you removed " +
      "this site from Compagnon, pair it again.",
    code_mismatch: "This code does not match: another program may have answered instead of Compagnon.",
    unpaired: "This site is not paired with Compagnon yet.",
    offline:
      "Compagnon does not answer on this computer: check that it is installed and running (its icon is near " +
      "the clock). The page finds it by itself as soon as it starts.",
    blocked_prompt:
      "Your browser asks for your consent before this site talks to Compagnon on your computer. Click " +
      "“Allow access to Compagnon”, then accept the browser's request (“Access other apps and services on this " +
      "device”).",
    blocked_denied:
      "Your browser prevents this site from talking to Compagnon. To allow it: click the icon left of the " +
      "site's address, open “Site settings” and set “Apps on device” to “Allow”, then reload the page. If your " +
      "organisation locked this setting, ask your IT department to allow this site (LoopbackNetworkAllowedForUrls " +
      "policy).",
    blocked_insecure:
      "This page is not served over HTTPS: the browser does not let it talk to Compagnon. Open the platform at " +
      "its https:// address or tell its support.",
    blocked_frame:
      "This service is shown in a frame that the platform's page does not allow to talk to Compagnon. Open it in " +
      "a new tab or tell the platform's support (the iframe needs allow=\"loopback-network\").",
    update_required:
      "The version of Compagnon installed on your computer{version} is too old for this site. Update " +
      "Compagnon: the page then reconnects by itself.",
    incompatible:
      "This page does not speak the protocol of the Compagnon installed on your computer{version}. Reload " +
      "the page; if the problem remains, tell the platform's support.",
  },
});

const enc = new TextEncoder();

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function toB64(bytes) {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function fromB64(text) {
  try {
    return Uint8Array.from(atob(typeof text === "string" ? text : ""), (c) => c.charCodeAt(0));
  } catch (_) {
    return new Uint8Array(0);
  }
}

function nonce() {
  return crypto.getRandomValues(new Uint8Array(32));
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** The six digits the agent shows: first 20 bits of SHA-256("compagnon-sas-v1" || transcript) mod 10^6. */
export async function pairingCode(transcript) {
  const d = await sha256(concat(enc.encode("compagnon-sas-v1"), transcript));
  const value = ((d[0] << 12) | (d[1] << 4) | (d[2] >> 4)) % 1000000;
  return String(value).padStart(6, "0");
}

// The site's pairing key, in this origin's IndexedDB (a CryptoKey that cannot be exported).
const DB_NAME = "compagnon-pairing";
const STORE = "keys";

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function dbDo(mode, action) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = action(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

export const pairingKeys = {
  get: (name) => dbDo("readonly", (s) => s.get(name)).catch(() => undefined),
  set: (name, key) => dbDo("readwrite", (s) => s.put(key, name)),
  delete: (name) => dbDo("readwrite", (s) => s.delete(name)),
};

/** The browser's loopback permission (PermissionStatus), or null where the browser has none. */
async function permissionStatus() {
  if (typeof navigator === "undefined" || !navigator.permissions || !navigator.permissions.query) return null;
  for (const name of PERMISSION_NAMES) {
    try {
      return await navigator.permissions.query({ name });
    } catch (_) {
      /* unknown permission name in this browser */
    }
  }
  return null;
}

/** Client-side error code of each state in which no call reaches the agent. */
const STATE_CODES = Object.freeze({
  not_yours: "NOT_YOURS",
  unpaired: "NOT_PAIRED",
  blocked: "LOCAL_ACCESS_BLOCKED",
  update_required: "UPDATE_REQUIRED",
  incompatible: "PROTOCOL_UNSUPPORTED",
});

function openSocket(url, timeoutMs) {
  return new Promise((resolve, reject) => {
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (err) {
      reject(err);
      return;
    }
    const timer = setTimeout(() => {
      ws.close();
      reject(new CompagnonError("AGENT_OFFLINE", "timeout"));
    }, timeoutMs);
    ws.onopen = () => {
      clearTimeout(timer);
      resolve(ws);
    };
    ws.onerror = () => {
      clearTimeout(timer);
      reject(new CompagnonError("AGENT_OFFLINE", "unreachable"));
    };
  });
}

/**
 * A connection to the local agent. Events: "online" (detail: hello result), "offline",
 * "state" (detail: the new state), "job" (detail: job snapshot, from jobs.updated).
 */
export class CompagnonClient extends EventTarget {
  constructor(options = {}) {
    super();
    this.ports = options.ports && options.ports.length ? [...options.ports] : [...DEFAULT_PORTS];
    this.host = options.host || "127.0.0.1";
    this.client = { name: options.clientName || "page", version: options.clientVersion || "1" };
    this.locale = options.locale || "fr";
    this.minVersion = options.minVersion || null;
    this.timeout = options.timeout ?? 15000;
    this.probeTimeout = options.probeTimeout ?? 1500;
    this.reconnectDelay = options.reconnectDelay ?? 1000;
    /** Retry delay when the agent found cannot serve this page (update_required, incompatible). */
    this.slowRetryDelay = options.slowRetryDelay ?? 30000;
    /** How long a click's first probe waits for the user to answer the browser's question. */
    this.promptTimeout = options.promptTimeout ?? 120000;
    this.info = null;
    this.port = null;
    /**
     * "offline", "blocked", "update_required", "incompatible", "not_yours", or online:
     * "unpaired" (no key) / "paired" (this connection proved the key).
     */
    this.state = "offline";
    /** While "blocked": "prompt" (ask at a click), "denied", "insecure" (http page), "frame" (no allow=). */
    this.blockedReason = null;
    /** The browser's loopback permission as last read: "granted", "prompt", "denied" or "unsupported". */
    this.permission = null;
    /** The agent that answered but cannot serve this page: {state, version, supported}, else null. */
    this.found = null;
    this._watching = false;
    this.keyName = options.keyName || "agent";
    this._ws = null;
    this._nextId = 1;
    this._pending = new Map();
    this._followers = new Map();
    this._running = false;
    this._timer = null;
    this._connecting = null;
  }

  /** True while a hello has been answered on an open socket. */
  get online() {
    return this.info !== null;
  }

  /**
   * State of the browser's loopback-network permission: "granted", "prompt", "denied" or
   * "unsupported" (browsers without the permission let pages reach 127.0.0.1).
   */
  static async loopbackPermission() {
    const status = await permissionStatus();
    return status ? status.state : "unsupported";
  }

  /**
   * Start connecting and keep reconnecting; resolves true once online (false if not yet).
   * Called from a click (`userGesture`, by default read from navigator.userActivation), it may
   * raise the browser's loopback-network question; called otherwise, it never does.
   */
  async connect({ userGesture } = {}) {
    const gesture = userGesture ?? Boolean(typeof navigator !== "undefined" && navigator.userActivation && navigator.userActivation.isActive);
    this._running = true;
    clearTimeout(this._timer);
    return this._attempt(gesture);
  }

  /** Close the socket and stop reconnecting. */
  disconnect() {
    this._running = false;
    clearTimeout(this._timer);
    if (this._ws) this._ws.close(1000);
    this._setOffline();
  }

  _schedule(delay = this.reconnectDelay) {
    clearTimeout(this._timer);
    if (this._running) this._timer = setTimeout(() => this._attempt(), delay);
  }

  /**
   * Why the browser would refuse this page local access now (a blockedReason), or null to probe.
   * Follows the permission's changes: once the user or IT allows the site, the client connects.
   */
  async _access(gesture) {
    const status = await permissionStatus();
    this.permission = status ? status.state : "unsupported";
    if (status && !this._watching) {
      this._watching = status; // kept: the browser drops the listener of a collected status
      status.addEventListener("change", () => {
        this.permission = status.state;
        if (this._running) this._attempt();
      });
    }
    if (!status || loopbackPage()) return null; // no such permission, or loopback to loopback
    if (status.state === "denied") {
      if (!window.isSecureContext) return "insecure";
      return frameAllowed() ? "denied" : "frame";
    }
    if (status.state === "prompt" && !gesture && stored(UNGATED) !== "1") return "prompt";
    return null;
  }

  _attempt(gesture = false) {
    if (this._connecting) return this._connecting;
    this._connecting = (async () => {
      try {
        const blocked = await this._access(gesture);
        if (blocked) {
          this._setBlocked(blocked);
          return false; // the permission's change (or a click) tries again
        }
        // At a click while the browser still has to ask, the first probe waits for the answer.
        const asking = gesture && this.permission === "prompt" && !loopbackPage();
        const outcome = { refused: false, found: null };
        let first = true;
        for (const { ports, timeout } of this._probeBatches()) {
          const wait = asking && first ? Math.max(timeout, this.promptTimeout) : timeout;
          first = false;
          for await (const { ws, port } of this._open(ports, wait)) {
            if (await this._adopt(ws, port, outcome)) {
              if (asking && (await CompagnonClient.loopbackPermission()) === "prompt") store(UNGATED, "1");
              return true;
            }
          }
        }
        if (outcome.refused) {
          this._setState("not_yours");
          this._schedule();
        } else if (outcome.found) {
          // A running agent this page cannot use: no offline, no retry every second.
          this.found = outcome.found;
          this._setState(outcome.found.state);
          this._schedule(this.slowRetryDelay);
        } else {
          const after = await this._access(false);
          if (after) {
            this._setBlocked(after); // the user refused (or closed) the browser's question
          } else {
            this._setState("offline");
            this._schedule();
          }
        }
        return false;
      } finally {
        this._connecting = null;
      }
    })();
    return this._connecting;
  }

  /**
   * The ports to probe, in batches: the remembered one alone, then the first four one by one,
   * then the shared range all at once (browsers delay each WebSocket that follows a refused one,
   * so probing 96 ports one after the other would take minutes; in parallel it takes seconds).
   * The remembered port and the parallel batch wait longer: after refused probes the browser
   * may hold a new WebSocket back for a few seconds before it even tries.
   */
  _probeBatches() {
    const slow = this.probeTimeout * 4;
    const remembered = rememberedPort();
    const rest = this.ports.filter((p) => p !== remembered);
    const batches = remembered !== null && this.ports.includes(remembered) ? [{ ports: [remembered], timeout: slow }] : [];
    for (const port of rest.filter((p) => !SHARED_PORTS.includes(p))) batches.push({ ports: [port], timeout: this.probeTimeout });
    const shared = rest.filter((p) => SHARED_PORTS.includes(p));
    if (shared.length) batches.push({ ports: shared, timeout: slow });
    return batches;
  }

  /** The sockets of `ports` that open within `timeout`, in port order; the unused ones are closed. */
  async *_open(ports, timeout) {
    const settled = await Promise.allSettled(ports.map((port) =>
      openSocket(`ws://${this.host}:${port}/bridge`, timeout).then((ws) => ({ ws, port }))));
    const opened = settled.filter((r) => r.status === "fulfilled").map((r) => r.value);
    try {
      while (opened.length) yield opened.shift();
    } finally {
      for (const { ws } of opened) ws.close();
    }
  }

  /**
   * Hello, then the pairing proof when this page holds a key; true once this agent is adopted.
   * An agent too old for this page, or speaking another protocol, is noted in `outcome.found`.
   */
  async _adopt(ws, port, outcome) {
    this._attach(ws, port);
    let info;
    try {
      const hello = { protocol: PROTOCOL, client: this.client, locale: this.locale };
      if (this.minVersion) hello.min_version = this.minVersion;
      info = await this.call("agent.hello", hello);
      if (!info || info.product !== "compagnon") throw new CompagnonError("NOT_YOURS", "not compagnon");
    } catch (err) {
      if (err instanceof CompagnonError && err.code === "PROTOCOL_UNSUPPORTED") {
        const supported = Array.isArray(err.data.supported) ? err.data.supported.filter(Number.isInteger) : [];
        const older = supported.length > 0 && Math.max(...supported) < PROTOCOL;
        outcome.found = { state: older ? "update_required" : "incompatible", version: null, supported };
      }
      this._detach(ws);
      return false;
    }
    if (info.update_required === true || (this.minVersion && olderThan(info.version, this.minVersion))) {
      outcome.found = { state: "update_required", version: String(info.version), supported: [info.protocol] };
      this._detach(ws);
      return false;
    }
    const key = await pairingKeys.get(this.keyName);
    if (key) {
      if (!(await this._authenticate(key))) {
        // Not the agent this page paired with: nothing more goes to it.
        outcome.refused = true;
        this._detach(ws);
        return false;
      }
      this.state = "paired";
      rememberPort(port); // its own agent: where to look first next time
    } else {
      this.state = "unpaired";
    }
    this.found = null;
    this.blockedReason = null;
    this.info = info;
    this.dispatchEvent(new CustomEvent("online", { detail: this.info }));
    this.dispatchEvent(new CustomEvent("state", { detail: this.state }));
    if (this.state === "paired") for (const id of this._followers.keys()) this._refresh(id);
    return true;
  }

  _detach(ws) {
    if (this._ws === ws) this._ws = null;
    ws.onclose = null;
    ws.onmessage = null;
    ws.close();
    this._setOffline();
  }

  _setState(state) {
    if (state !== "blocked") this.blockedReason = null;
    if (state !== "update_required" && state !== "incompatible") this.found = null;
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: state }));
  }

  _setBlocked(reason) {
    const changed = this.state !== "blocked" || this.blockedReason !== reason;
    this.found = null;
    this.state = "blocked";
    this.blockedReason = reason;
    if (changed) this.dispatchEvent(new CustomEvent("state", { detail: "blocked" }));
  }

  /** The agent proves the key first; the page checks it before it proves the key in turn. */
  async _authenticate(key) {
    const origin = location.origin;
    const pageNonce = nonce();
    let answer;
    try {
      answer = await this.call("agent.auth", { step: "challenge", nonce: toB64(pageNonce) });
    } catch (_) {
      return false; // NOT_PAIRED included: this page cannot tell a revoked pairing from a rogue agent
    }
    const agentNonce = fromB64(answer && answer.nonce);
    const proof = fromB64(answer && answer.proof);
    if (agentNonce.length !== 32 || proof.length !== 32) return false;
    const signed = (label) => concat(enc.encode(label), enc.encode(origin), pageNonce, agentNonce);
    let good = false;
    try {
      good = await crypto.subtle.verify("HMAC", key, proof, signed("agent"));
    } catch (_) {
      good = false;
    }
    if (!good) return false;
    const mine = new Uint8Array(await crypto.subtle.sign("HMAC", key, signed("page")));
    try {
      await this.call("agent.auth", { step: "prove", proof: toB64(mine) });
    } catch (_) {
      return false;
    }
    return true;
  }

  /**
   * Pair this site with the agent (PROTOCOL.md "Pairing"): `readCode()` asks the user for the
   * six-digit code Compagnon shows (resolves with the typed text); `onWaiting()` is called while the
   * agent asks the user to allow the site. The page commits to the typed code before the agent
   * reveals what makes the code computable, then checks it against its own transcript and only
   * then opens its commitment: the typed code authenticates the pairing to the agent too.
   * Rejects with CompagnonError CODE_MISMATCH when the typed code differs from the one computed
   * here (another program may have answered; nothing of the code is revealed to it), or with the
   * agent's code: PAIRING_CODE_INCORRECT, PAIRING_REFUSED, USER_TIMEOUT, TOO_MANY_REQUESTS...
   * After a failure, pairing again shows a new code.
   */
  async pair({ readCode, onWaiting = () => {} } = {}) {
    if (typeof readCode !== "function") throw new CompagnonError("INVALID_PARAMS", "readCode required");
    const origin = location.origin;
    const commit = await this.call("agent.pair", { step: "commit" });
    const commitment = fromB64(commit && commit.commitment);
    const pair = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
    const pageKey = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const pageNonce = nonce();
    onWaiting();
    const answer = await this.call("agent.pair", { step: "exchange", public_key: toB64(pageKey), nonce: toB64(pageNonce) });
    const agentKey = fromB64(answer && answer.public_key);
    if (agentKey.length !== 65) throw this._mismatch();
    const typed = String((await readCode()) ?? "").replace(/\s+/g, "");
    if (!/^[0-9]{6}$/.test(typed)) throw this._mismatch();
    const opening = nonce();
    const codeCommitment = await sha256(concat(enc.encode("compagnon-code-v1"), enc.encode(origin), pageKey, agentKey,
      pageNonce, enc.encode(typed), opening));
    const revealed = await this.call("agent.pair", { step: "code", commitment: toB64(codeCommitment) });
    const agentNonce = fromB64(revealed && revealed.nonce);
    if (agentNonce.length !== 32 || !sameBytes(await sha256(concat(agentKey, agentNonce)), commitment)) {
      throw this._mismatch();
    }
    const transcript = concat(enc.encode(origin), pageKey, agentKey, pageNonce, agentNonce);
    // A different code: the commitment is not opened (a program in the middle would learn the code).
    if (!sameBytes(enc.encode(typed), enc.encode(await pairingCode(transcript)))) throw this._mismatch();
    let peer;
    try {
      peer = await crypto.subtle.importKey("raw", agentKey, { name: "ECDH", namedCurve: "P-256" }, false, []);
    } catch (_) {
      throw this._mismatch();
    }
    const shared = await crypto.subtle.deriveBits({ name: "ECDH", public: peer }, pair.privateKey, 256);
    const hkdf = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
    const key = await crypto.subtle.deriveKey(
      { name: "HKDF", hash: "SHA-256", salt: concat(pageNonce, agentNonce), info: concat(enc.encode("compagnon-pairing-v1"), enc.encode(origin)) },
      hkdf, { name: "HMAC", hash: "SHA-256", length: 256 }, false, ["sign", "verify"]);
    const confirm = new Uint8Array(await crypto.subtle.sign("HMAC", key, concat(enc.encode("page-confirm"), transcript, enc.encode(typed))));
    const done = await this.call("agent.pair", { step: "confirm", opening: toB64(opening), proof: toB64(confirm) });
    const good = await crypto.subtle.verify("HMAC", key, fromB64(done && done.proof),
      concat(enc.encode("agent-confirm"), transcript, enc.encode(typed)));
    if (!good) throw this._mismatch();
    await pairingKeys.set(this.keyName, key);
    rememberPort(this.port);
    this._setState("paired");
    for (const id of this._followers.keys()) this._refresh(id);
    return true;
  }

  _mismatch() {
    return new CompagnonError("CODE_MISMATCH", (MESSAGES[this.locale] || MESSAGES.fr).code_mismatch);
  }

  /** Forget this site's key (the page must pair again). */
  async forgetPairing() {
    await pairingKeys.delete(this.keyName);
    if (this.state === "paired") this._setState("unpaired");
  }

  /** What the user should know or do in the current state, in the client's language ("" when online and paired). */
  stateMessage() {
    const texts = MESSAGES[this.locale] || MESSAGES.fr;
    const key = this.state === "blocked" ? `blocked_${this.blockedReason}` : this.state;
    const version = this.found && this.found.version ? ` (${this.found.version})` : "";
    return (texts[key] || "").replace("{version}", version);
  }

  _attach(ws, port) {
    this._ws = ws;
    this.port = port;
    ws.onmessage = (event) => this._receive(event.data);
    ws.onclose = () => {
      if (this._ws !== ws) return;
      this._ws = null;
      this._setOffline();
      this._schedule();
    };
  }

  _setOffline() {
    const wasOnline = this.info !== null;
    this.info = null;
    this.port = null;
    // An online state ends here; the others are the connection attempt's to settle.
    if (this.state === "unpaired" || this.state === "paired") this.state = "offline";
    for (const { reject, timer } of this._pending.values()) {
      clearTimeout(timer);
      reject(new CompagnonError("AGENT_OFFLINE", "Compagnon n'est plus joignable."));
    }
    this._pending.clear();
    if (wasOnline) this.dispatchEvent(new CustomEvent("offline"));
  }

  _receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch (_) {
      return;
    }
    for (const m of Array.isArray(message) ? message : [message]) {
      if (m.method === "jobs.updated" && m.params && m.params.job) {
        this._jobUpdated(m.params.job);
      } else if (m.id !== undefined && this._pending.has(m.id)) {
        const { resolve, reject, timer } = this._pending.get(m.id);
        this._pending.delete(m.id);
        clearTimeout(timer);
        if (m.error) {
          const data = m.error.data || {};
          reject(new CompagnonError(data.code || "ERROR", m.error.message, data));
        } else {
          resolve(m.result);
        }
      }
    }
  }

  _jobUpdated(job) {
    this.dispatchEvent(new CustomEvent("job", { detail: job }));
    const follower = this._followers.get(job.id);
    if (!follower) return;
    follower.onUpdate(job);
    if (TERMINAL_STATES.includes(job.state)) {
      this._followers.delete(job.id);
      follower.resolve(job);
    }
  }

  async _refresh(id) {
    try {
      this._jobUpdated(await this.call("jobs.get", { id }));
    } catch (_) {
      /* offline again: the next reconnection retries */
    }
  }

  /**
   * How long a call of `method` may wait for its answer (ms): the methods that wait for the user
   * (WAITS_FOR_USER) get the agent's consent timeout plus a margin, the others the default.
   */
  timeoutFor(method) {
    if (!WAITS_FOR_USER.includes(method)) return this.timeout;
    const seconds = this.info && typeof this.info.consent_timeout === "number" ? this.info.consent_timeout : 120;
    return Math.max(this.timeout, seconds * 1000 + USER_MARGIN_MS);
  }

  /**
   * Call a method; rejects with CompagnonError (AGENT_OFFLINE, TIMEOUT, NOT_YOURS, NOT_PAIRED or the
   * agent's code). Nothing but hello, pairing and authentication is sent before the agent proved
   * it holds this site's key. Without `timeout`, `timeoutFor(method)`.
   */
  call(method, params = {}, { timeout } = {}) {
    const ws = this._ws;
    if (!OPEN_METHODS.includes(method) && this.state !== "paired") {
      const code = STATE_CODES[this.state] || "AGENT_OFFLINE";
      const text = this.stateMessage() || "Compagnon n'est pas joignable.";
      return Promise.reject(new CompagnonError(code, text));
    }
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new CompagnonError("AGENT_OFFLINE", "Compagnon n'est pas joignable."));
    }
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new CompagnonError("TIMEOUT", `${method} : pas de réponse.`));
      }, timeout ?? this.timeoutFor(method));
      this._pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    });
  }

  /**
   * Follow a job until it ends: onUpdate(snapshot) on each change; resolves with the final
   * snapshot. Survives reconnections (the snapshot is fetched again once back online).
   */
  followJob(id, onUpdate = () => {}) {
    return new Promise((resolve) => {
      this._followers.set(id, { onUpdate, resolve });
      this._refresh(id);
    });
  }

  /** Start a job and follow it; resolves with the final snapshot (the site must be paired). */
  async runJob(kind, params = {}, onUpdate = () => {}, { locale, timeout } = {}) {
    const snapshot = await this.call("jobs.start", { kind, params, locale: locale || this.locale }, {
      timeout: timeout ?? 180000,
    });
    onUpdate(snapshot);
    if (TERMINAL_STATES.includes(snapshot.state)) return snapshot;
    return this.followJob(snapshot.id, onUpdate);
  }

  cancelJob(id) {
    return this.call("jobs.cancel", { id });
  }

  listJobs(limit = 100) {
    return this.call("jobs.list", { limit });
  }
}
