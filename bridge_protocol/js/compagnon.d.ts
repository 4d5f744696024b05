// Types of the Compagnon browser client (compagnon.js), bridge protocol 1.
// Message shapes mirror bridge_protocol/schema/bridge.schema.json.

export declare const PROTOCOL: 1;
export declare const DEFAULT_PORTS: readonly number[];
export declare const TERMINAL_STATES: readonly JobState[];

export type Locale = "fr" | "en";
export type JobState = "queued" | "running" | "succeeded" | "failed" | "cancelled" | "interrupted";
export type StepState = "pending" | "running" | "succeeded" | "failed" | "skipped" | "cancelled";

export interface HelloResult {
  product: "compagnon";
  version: string;
  protocol: number;
  capabilities: string[];
  paired: boolean;
}

export interface Step {
  id: string;
  label: string;
  state: StepState;
  progress: number;
}

export interface JobSnapshot<R = unknown> {
  id: string;
  kind: string;
  state: JobState;
  progress: number;
  steps: Step[];
  current: { label: string; index: number; total: number } | null;
  message: string | null;
  result: R | null;
  error: { code: string; message: string } | null;
  created_at: string;
  updated_at: string;
  /** Bytes per second while the job moves data. */
  speed?: number | null;
}

export interface DiagnoseCheck {
  id: string;
  label: string;
  status: "pass" | "warn" | "fail";
  value: string;
  message: string;
}

export interface DiagnoseResult {
  checks: DiagnoseCheck[];
  status: "pass" | "warn" | "fail";
  message: string;
}

export declare class CompagnonError extends Error {
  /** Stable code: the agent's error.data.code, or AGENT_OFFLINE / TIMEOUT from the client. */
  code: string;
  data: Record<string, unknown>;
  constructor(code: string, message: string, data?: Record<string, unknown>);
}

export interface ClientOptions {
  ports?: number[];
  host?: string;
  clientName?: string;
  clientVersion?: string;
  locale?: Locale;
  /** Call timeout in ms (default 15000). */
  timeout?: number;
  /** Per-port connection timeout in ms (default 1500). */
  probeTimeout?: number;
  /** Delay between reconnection attempts in ms (default 1000). */
  reconnectDelay?: number;
}

export declare class CompagnonClient extends EventTarget {
  constructor(options?: ClientOptions);
  readonly online: boolean;
  info: HelloResult | null;
  port: number | null;
  static loopbackPermission(): Promise<"granted" | "prompt" | "denied" | "unsupported">;
  connect(): Promise<boolean>;
  disconnect(): void;
  call<T = unknown>(method: string, params?: object, options?: { timeout?: number }): Promise<T>;
  followJob<R = unknown>(id: string, onUpdate?: (job: JobSnapshot<R>) => void): Promise<JobSnapshot<R>>;
  runJob<R = unknown>(
    kind: string,
    params?: object,
    onUpdate?: (job: JobSnapshot<R>) => void,
    options?: { locale?: Locale; timeout?: number },
  ): Promise<JobSnapshot<R>>;
  cancelJob(id: string): Promise<JobSnapshot>;
  listJobs(limit?: number): Promise<JobSnapshot[]>;
  addEventListener(type: "online", listener: (event: CustomEvent<HelloResult>) => void): void;
  addEventListener(type: "offline", listener: (event: Event) => void): void;
  addEventListener(type: "job", listener: (event: CustomEvent<JobSnapshot>) => void): void;
}
