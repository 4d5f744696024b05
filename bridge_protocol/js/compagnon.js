// Compagnon browser client (ES module), bridge protocol 1.
//
// Finds the agent on ws://127.0.0.1:47230-47233/bridge, says hello, keeps an online/offline
// state with automatic reconnection, calls methods with timeouts and follows jobs.
//
// Chrome 147+ asks the user for the "loopback network" permission before a page may reach
// 127.0.0.1. While that permission is "prompt", call `connect()` from a user gesture (a click);
// IT can pre-approve platform origins with the LoopbackNetworkAllowedForUrls policy.

export const PROTOCOL = 1;
export const DEFAULT_PORTS = Object.freeze([47230, 47231, 47232, 47233]);
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
 * "job" (detail: job snapshot, from jobs.updated).
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
    this.info = null;
    this.port = null;
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
    if (!navigator.permissions || !navigator.permissions.query) return "unsupported";
    for (const name of ["loopback-network", "local-network-access"]) {
      try {
        return (await navigator.permissions.query({ name })).state;
      } catch (_) {
        /* unknown permission name in this browser */
      }
    }
    return "unsupported";
  }

  /** Start connecting and keep reconnecting; resolves true once online (false if not yet). */
  async connect() {
    this._running = true;
    return this._attempt();
  }

  /** Close the socket and stop reconnecting. */
  disconnect() {
    this._running = false;
    clearTimeout(this._timer);
    if (this._ws) this._ws.close(1000);
    this._setOffline();
  }

  _schedule() {
    clearTimeout(this._timer);
    if (this._running) this._timer = setTimeout(() => this._attempt(), this.reconnectDelay);
  }

  _attempt() {
    if (this._connecting) return this._connecting;
    this._connecting = (async () => {
      try {
        for (const port of this.ports) {
          let ws;
          try {
            ws = await openSocket(`ws://${this.host}:${port}/bridge`, this.probeTimeout);
          } catch (_) {
            continue;
          }
          this._attach(ws, port);
          try {
            const hello = { protocol: PROTOCOL, client: this.client, locale: this.locale };
            if (this.minVersion) hello.min_version = this.minVersion;
            this.info = await this.call("agent.hello", hello);
          } catch (_) {
            ws.close();
            continue;
          }
          this.dispatchEvent(new CustomEvent("online", { detail: this.info }));
          for (const id of this._followers.keys()) this._refresh(id);
          return true;
        }
        this._schedule();
        return false;
      } finally {
        this._connecting = null;
      }
    })();
    return this._connecting;
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

  /** Call a method; rejects with CompagnonError (AGENT_OFFLINE, TIMEOUT or the agent's code). */
  call(method, params = {}, { timeout } = {}) {
    const ws = this._ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new CompagnonError("AGENT_OFFLINE", "Compagnon n'est pas joignable."));
    }
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new CompagnonError("TIMEOUT", `${method} : pas de réponse.`));
      }, timeout ?? this.timeout);
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

  /** Start a job and follow it; resolves with the final snapshot. Pairing may be asked first. */
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
