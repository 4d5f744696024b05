// Types of the Compagnon browser client (compagnon.js), bridge protocol 1.
// The protocol's messages (every method, job kind, param, result, snapshot and error code) are in
// protocol.d.ts, generated from bridge_protocol; this file declares the client's own API.

import type {
  ErrorCode, HelloResult, JobKind, JobKinds, JobSnapshot, JobState, Locale, MethodName, Methods,
} from "./protocol.js";

export type * from "./protocol.js";

export declare const PROTOCOL: 1;
export declare const FIRST_PORTS: readonly number[];
export declare const SHARED_PORTS: readonly number[];
/** FIRST_PORTS then SHARED_PORTS; a paired page tries first the port where its agent last proved the key. */
export declare const DEFAULT_PORTS: readonly number[];
export declare const TERMINAL_STATES: readonly JobState[];
/** Methods whose answer waits for the user in the agent's UI: they get the agent's consent timeout (hello `consent_timeout`) plus a margin. */
export declare const WAITS_FOR_USER: readonly string[];

/** Options of one call: `timeout` in ms (default: `timeoutFor(method)`). */
export interface CallOptions {
  timeout?: number;
}

/** Options of `runJob`: the job's language and the timeout of its `jobs.start` call. */
export interface RunJobOptions {
  locale?: Locale;
  timeout?: number;
}

/** The params a method takes, then the call's options; params may be left out when every member is optional. */
export type CallArgs<P> = {} extends P ? [params?: P, options?: CallOptions] : [params: P, options?: CallOptions];

/** The params a job kind takes, the progress callback and the options; params may be left out when every
 *  member is optional. */
export type RunJobArgs<K extends JobKind> = {} extends JobKinds[K]["params"]
  ? [params?: JobKinds[K]["params"], onUpdate?: (job: JobSnapshot<JobKinds[K]["result"]>) => void, options?: RunJobOptions]
  : [params: JobKinds[K]["params"], onUpdate?: (job: JobSnapshot<JobKinds[K]["result"]>) => void, options?: RunJobOptions];

/** Codes the client itself gives (nothing was answered by an agent). */
export type ClientErrorCode =
  | "AGENT_OFFLINE" | "TIMEOUT" | "NOT_PAIRED" | "NOT_YOURS" | "CODE_MISMATCH"
  | "LOCAL_ACCESS_BLOCKED" | "UPDATE_REQUIRED";

export declare class CompagnonError extends Error {
  /**
   * Stable code: the agent's error.data.code, or from the client: AGENT_OFFLINE, TIMEOUT,
   * NOT_PAIRED (no key yet: pair first), NOT_YOURS (the agent could not prove it holds this site's
   * key: nothing was sent to it), CODE_MISMATCH (the code typed differs from the one computed),
   * PAIRING_CODE_INCORRECT (the agent found the typed code wrong: pair again, a new code is shown),
   * LOCAL_ACCESS_BLOCKED (state "blocked"), UPDATE_REQUIRED (state "update_required"),
   * PROTOCOL_UNSUPPORTED (state "incompatible").
   */
  code: ErrorCode | ClientErrorCode | (string & {});
  data: Record<string, unknown>;
  constructor(code: string, message: string, data?: Record<string, unknown>);
}

export interface ClientOptions {
  ports?: number[];
  host?: string;
  clientName?: string;
  clientVersion?: string;
  locale?: Locale;
  /** Oldest agent version the page works with (sent as agent.hello min_version). */
  minVersion?: string;
  /** Call timeout in ms (default 15000). */
  timeout?: number;
  /** Per-port connection timeout in ms (default 1500). */
  probeTimeout?: number;
  /** Delay between reconnection attempts in ms (default 1000). */
  reconnectDelay?: number;
  /** Retry delay in ms while the agent found is "update_required" or "incompatible" (default 30000). */
  slowRetryDelay?: number;
  /** How long a click's first probe waits for the user to answer the browser's question, in ms (default 120000). */
  promptTimeout?: number;
}

/**
 * Online: "unpaired" (hello answered, no key yet) or "paired" (this connection and the agent proved
 * the site's key). Not online: "offline" (nothing answers: not installed or not running),
 * "blocked" (the browser refuses this page local access: see `blockedReason`), "update_required"
 * (the agent is older than the page needs), "incompatible" (the agent no longer speaks this page's
 * protocol), "not_yours" (a program answered that cannot prove the key: nothing is sent to it).
 */
export type PairingState =
  | "offline" | "unpaired" | "paired" | "not_yours" | "blocked" | "update_required" | "incompatible";

/** Why the browser refuses local access: "prompt" (ask at a click), "denied" (the user or a policy
 *  refused), "insecure" (the page is not served over https), "frame" (framed without allow="loopback-network"). */
export type BlockedReason = "prompt" | "denied" | "insecure" | "frame";

export type StateMessageKey =
  | "not_yours" | "code_mismatch" | "unpaired" | "offline" | "blocked_prompt" | "blocked_denied"
  | "blocked_insecure" | "blocked_frame" | "update_required" | "incompatible";

export declare const MESSAGES: Readonly<Record<Locale, Readonly<Record<StateMessageKey, string>>>>;

/** The six-digit code of a pairing transcript (PROTOCOL.md "Pairing"). */
export declare function pairingCode(transcript: Uint8Array): Promise<string>;

export interface PairOptions {
  /** Ask the user for the six-digit code Compagnon shows; resolve with what they typed. */
  readCode: () => Promise<string> | string;
  /** Called while Compagnon asks the user to allow the site (before the code is asked). */
  onWaiting?: () => void;
}

export declare class CompagnonClient extends EventTarget {
  constructor(options?: ClientOptions & { keyName?: string });
  readonly online: boolean;
  /** The language of the agent's texts for this page (hello, job messages); may be changed. */
  locale: Locale;
  state: PairingState;
  /** While state is "blocked": why; else null. */
  blockedReason: BlockedReason | null;
  /** The browser's loopback-network permission as last read. */
  permission: "granted" | "prompt" | "denied" | "unsupported" | null;
  /** The agent that answered but cannot serve this page (states "update_required", "incompatible"). */
  found: { state: "update_required" | "incompatible"; version: string | null; supported: number[] } | null;
  /** Pair the site (ECDH, commitment, code typed by the user); the key stays in IndexedDB. */
  pair(options: PairOptions): Promise<true>;
  /** Forget this site's key: the page must pair again. */
  forgetPairing(): Promise<void>;
  /** What the user should know or do in the current state, in the client's language ("" when paired). */
  stateMessage(): string;
  /** The default timeout of a call of `method` in ms: the consent timeout plus a margin for WAITS_FOR_USER, else `timeout`. */
  timeoutFor(method: string): number;
  info: HelloResult | null;
  port: number | null;
  static loopbackPermission(): Promise<"granted" | "prompt" | "denied" | "unsupported">;
  /** Connect and keep reconnecting; from a click (`userGesture`, read from navigator.userActivation
   *  by default) it may raise the browser's loopback-network question, otherwise never. */
  connect(options?: { userGesture?: boolean }): Promise<boolean>;
  disconnect(): void;
  /** A method of the protocol, typed by `Methods`: params checked, result typed, with or without options. */
  call<M extends MethodName>(method: M, ...args: CallArgs<Methods[M]["params"]>): Promise<Methods[M]["result"]>;
  /** A method this version of the types does not know (a newer agent's): untyped. */
  call<T = unknown, M extends string = string>(
    method: M extends MethodName ? never : M, params?: object, options?: CallOptions): Promise<T>;
  followJob<R = unknown>(id: string, onUpdate?: (job: JobSnapshot<R>) => void): Promise<JobSnapshot<R>>;
  /** Start a job of a known kind and follow it: params checked by `JobKinds`, snapshots typed. */
  runJob<K extends JobKind>(kind: K, ...args: RunJobArgs<K>): Promise<JobSnapshot<JobKinds[K]["result"]>>;
  /** A kind this version of the types does not know (check `job:<kind>` in the hello's capabilities). */
  runJob<R = unknown, K extends string = string>(
    kind: K extends JobKind ? never : K,
    params?: object,
    onUpdate?: (job: JobSnapshot<R>) => void,
    options?: RunJobOptions,
  ): Promise<JobSnapshot<R>>;
  cancelJob(id: string): Promise<JobSnapshot>;
  listJobs(limit?: number): Promise<JobSnapshot[]>;
  addEventListener(type: "online", listener: (event: CustomEvent<HelloResult>) => void): void;
  addEventListener(type: "offline", listener: (event: Event) => void): void;
  addEventListener(type: "state", listener: (event: CustomEvent<PairingState>) => void): void;
  addEventListener(type: "job", listener: (event: CustomEvent<JobSnapshot>) => void): void;
}
