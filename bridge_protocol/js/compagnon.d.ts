// Types of the Compagnon browser client (compagnon.js), bridge protocol 1.
// Message shapes mirror bridge_protocol/schema/bridge.schema.json.

export declare const PROTOCOL: 1;
export declare const FIRST_PORTS: readonly number[];
export declare const SHARED_PORTS: readonly number[];
/** FIRST_PORTS then SHARED_PORTS; a paired page tries first the port where its agent last proved the key. */
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
  /** The agent holds a pairing key for this site (a claim: only agent.auth proves it). */
  paired: boolean;
  /** This connection proved the key (agent.auth or a pairing). */
  authenticated: boolean;
  /** The page's minVersion is above this agent's version: "mise à jour requise". */
  update_required: boolean;
  /** The newer version the agent's last update check found, or null. */
  update_available: string | null;
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

export interface CertificateInfo {
  id: string;
  subject: string;
  organization: string | null;
  organization_identifier: string | null;
  siren: string | null;
  vat: string | null;
  issuer: string;
  serial: string;
  not_before: string;
  not_after: string;
  key_type: string;
  key_usage: string[];
  extended_key_usage: string[];
  policies: string[];
  qc_statements: string[];
  qualified: boolean;
  trusted: boolean;
  sha256: string;
  source: { kind: "pkcs11" | "pkcs12" | "windows" | "macos"; label: string };
  purposes: Array<"signing" | "decryption">;
  /** "Adapté aux marchés publics". */
  suitable: boolean;
  reasons: string[];
}

export interface FileInfo {
  handle: string;
  name: string;
  size: number;
  sha256: string | null;
  complete: boolean;
}

export interface SignFile {
  format: "pades" | "cades" | "xades";
  handle?: string;
  /** A document on the page's own origin. */
  url?: string;
  attached?: boolean;
  enveloped?: boolean;
  pes?: boolean;
  content_handle?: string;
  stamp?: { page?: number; box?: [number, number, number, number] };
}

export interface SignParams {
  files: SignFile[];
  certificate: string;
  level?: "B-B" | "B-T" | "B-LT" | "B-LTA";
  mode?: "sign" | "cosign" | "countersign";
  signer?: string;
  upload_url?: string;
  token?: string;
  reason?: string;
  claimed_role?: string;
  production_place?: Record<string, string>;
}

export interface SignedFile {
  source: string;
  format: "pades" | "cades" | "xades";
  status: "signed" | "failed";
  sha256: string | null;
  output: string | null;
  output_handle: string | null;
  folder: string | null;
  uploaded: boolean;
  error: { code: string; message: string } | null;
}

export interface SignResult {
  files: SignedFile[];
  signed: number;
  failed: number;
}

export type Indication = "TOTAL_PASSED" | "TOTAL_FAILED" | "INDETERMINATE";

export interface SignatureReport {
  id: string;
  format: string;
  level: string | null;
  signer: { name: string | null; organization: string | null; certificate_sha256: string | null };
  signing_time: string | null;
  signing_time_source: "timestamp" | "claimed" | null;
  indication: Indication;
  sub_indication: string | null;
  checks: Array<{ name: string; status: "passed" | "failed" | "warning" | "not_checked" | "not_applicable"; message: string }>;
  countersignatures: SignatureReport[];
  /** Files of the ASiC container this signature covers (paths inside it); only in a container. */
  covers?: string[];
}

/** The ASiC container (ETSI EN 319 162-1) the signatures came from. */
export interface ContainerReport {
  type: "ASiC-S" | "ASiC-E" | "ZIP";
  files: string[];
  /** Data files that no signature covers. */
  uncovered: string[];
  checks: Array<{ name: string; status: "passed" | "failed" | "warning" | "not_checked" | "not_applicable"; message: string }>;
}

export interface VerificationReport {
  file: string;
  signatures: SignatureReport[];
  /** Documents the file encapsulates (the PDF inside an attached CAdES .p7m), each with its own signatures. */
  contents?: VerificationReport[];
  /** Present when the file is an ASiC container: its files, and those no signature covers. */
  container?: ContainerReport;
}

/** One file of a multi-file verification (verify with `files`). */
export interface VerifiedFile {
  file: string;
  /** "unsigned": no signature in the file (it may still be the content of a detached signature: `signed_by`). */
  status: "signed" | "unsigned" | "error";
  format: string | null;
  /** The content a detached signature was checked against. */
  content: string | null;
  /** The detached signatures of the batch that sign this file. */
  signed_by: string[];
  indication: Indication | null;
  signatures: SignatureReport[];
  /** Documents the file encapsulates (the PDF inside a .p7m), each with its own signatures. */
  contents: VerificationReport[];
  error: { code: string; message: string } | null;
  /** A ZIP or ASiC container's own report (its files, those no signature covers); else null. */
  container: ContainerReport | null;
}

export interface VerifySummary {
  files: number;
  signatures: number;
  valid: number;
  invalid: number;
  indeterminate: number;
  /** Files without any signature, not counting a file a detached signature of the batch signs. */
  unsigned: number;
  errors: number;
  indication: Indication;
}

export interface VerifyResult {
  /** One file: its VerificationReport; with `files`: `{summary, files}`. */
  report: VerificationReport | { summary: VerifySummary; files: VerifiedFile[] };
  indication: Indication;
  report_name: string;
  /** Read the HTML report with files.get. */
  report_handle: string | null;
  /** With `files` only. */
  summary: VerifySummary | null;
}

export interface VerifyFileRef {
  handle?: string;
  url?: string;
  content_handle?: string;
  content_url?: string;
  /** What the report calls the file (default: its own name). */
  name?: string;
}

export declare class CompagnonError extends Error {
  /**
   * Stable code: the agent's error.data.code, or from the client: AGENT_OFFLINE, TIMEOUT,
   * NOT_PAIRED (no key yet: pair first), NOT_YOURS (the agent could not prove it holds this site's
   * key: nothing was sent to it), CODE_MISMATCH (the code typed differs from the one computed).
   */
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
  /** Oldest agent version the page works with (sent as agent.hello min_version). */
  minVersion?: string;
  /** Call timeout in ms (default 15000). */
  timeout?: number;
  /** Per-port connection timeout in ms (default 1500). */
  probeTimeout?: number;
  /** Delay between reconnection attempts in ms (default 1000). */
  reconnectDelay?: number;
}

/** "paired": this connection and the agent proved the site's key; "not_yours": a program answered
 *  that cannot (another user's agent or a rogue one): nothing is sent to it. */
export type PairingState = "offline" | "unpaired" | "paired" | "not_yours";

export declare const MESSAGES: Readonly<Record<Locale, { not_yours: string; code_mismatch: string; unpaired: string }>>;

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
  state: PairingState;
  /** Pair the site (ECDH, commitment, code typed by the user); the key stays in IndexedDB. */
  pair(options: PairOptions): Promise<true>;
  /** Forget this site's key: the page must pair again. */
  forgetPairing(): Promise<void>;
  /** The user-facing text of "not_yours" / "unpaired" in the client's language, else "". */
  stateMessage(): string;
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
  call(method: "certificates.list", params: { purpose?: "signing" | "decryption" }): Promise<{ certificates: CertificateInfo[] }>;
  call(method: "files.pick", params: { multiple?: boolean; accept?: string[] }): Promise<{ files: FileInfo[] }>;
  call(method: "files.put", params: { data: string; name?: string; handle?: string; final?: boolean }): Promise<FileInfo>;
  call(method: "files.get", params: { handle: string; offset?: number; length?: number }):
    Promise<{ data: string; offset: number; eof: boolean; file: FileInfo }>;
  runJob(kind: "sign", params: SignParams, onUpdate?: (job: JobSnapshot<SignResult>) => void):
    Promise<JobSnapshot<SignResult>>;
  runJob(kind: "verify", params: { handle?: string; url?: string; content_handle?: string; content_url?: string;
                                   files?: VerifyFileRef[]; token?: string },
    onUpdate?: (job: JobSnapshot<VerifyResult>) => void): Promise<JobSnapshot<VerifyResult>>;
  listJobs(limit?: number): Promise<JobSnapshot[]>;
  addEventListener(type: "online", listener: (event: CustomEvent<HelloResult>) => void): void;
  addEventListener(type: "offline", listener: (event: Event) => void): void;
  addEventListener(type: "state", listener: (event: CustomEvent<PairingState>) => void): void;
  addEventListener(type: "job", listener: (event: CustomEvent<JobSnapshot>) => void): void;
}
