// Types of the Compagnon bridge protocol 1, revision 1.0, GENERATED from
// bridge_protocol (messages.py, kinds.py, files.py, certificates.py, capabilities.py, errors.py) by
// `python -m bridge_protocol.documents`.
// Do not edit: change the Python types and generate again (a test fails when this file is stale).
// The same definitions give schema/bridge.schema.json; PROTOCOL.md explains them.

export type ProtocolVersion = 1;
export type Locale = "fr" | "en";
export type JobState = "queued" | "running" | "succeeded" | "failed" | "cancelled" | "interrupted";
export type StepState = "pending" | "running" | "succeeded" | "failed" | "skipped" | "cancelled";
export type PairStep = "commit" | "exchange" | "code" | "confirm";
export type AuthStep = "challenge" | "prove";
export type Purpose = "signing" | "decryption";
export type CheckStatus = "pass" | "warn" | "fail";
export type SignFormat = "pades" | "cades" | "xades";
export type SignLevel = "B-B" | "B-T" | "B-LT" | "B-LTA";
export type Indication = "TOTAL_PASSED" | "TOTAL_FAILED" | "INDETERMINATE";

// -- What the page sends -------------------------------------------------------------

/** `agent.hello` request: the protocol version the page speaks and, optionally, its language and the oldest agent version it works with (`min_version`: "mise à jour requise" below it). */
export interface HelloParams {
  protocol: number;
  client: ClientInfo;
  locale?: Locale | null;
  min_version?: string | null;
}

/** Who is calling: the platform page or tool, for the agent's log and console. */
export interface ClientInfo {
  name: string;
  version: string;
}

/** `agent.pair` request, in four steps on one connection (PROTOCOL.md "Pairing"). `commit`: no other member; `exchange`: the page's ECDH key `public_key` (uncompressed P-256, base64) and its 32-byte `nonce`; `code`: the page's `commitment` to the code the user typed, SHA-256("compagnon-code-v1" || origin || pk_P || pk_A || n_P || code || r_P); `confirm`: the `opening` r_P of that commitment (32 bytes) and the page's `proof` HMAC(K, "page-confirm" || transcript || code). */
export interface PairParams {
  step: PairStep;
  public_key?: string | null;
  nonce?: string | null;
  commitment?: string | null;
  opening?: string | null;
  proof?: string | null;
}

/** `agent.auth` request: `challenge` with the page's fresh `nonce`, then `prove` with the page's `proof` HMAC(K, "page" || origin || n_P || n_A). */
export interface AuthParams {
  step: AuthStep;
  nonce?: string | null;
  proof?: string | null;
}

/** `certificates.list` request: the certificates with a private key, for one purpose. */
export interface CertificatesListParams {
  purpose?: Purpose;
}

/** `files.pick`: the user chooses files in the agent's own picker; the page gets handles. */
export interface FilePickParams {
  multiple?: boolean;
  accept?: string[];
}

/** `files.put`: upload a file in chunks. The first call gives `name` and no `handle`; the next ones give the `handle`; the last one sets `final`. `data` is base64. */
export interface FilePutParams {
  data: string;
  name?: string | null;
  handle?: string | null;
  final?: boolean;
}

/** `files.get`: read `length` bytes of a file from `offset` (base64 in the answer). */
export interface FileGetParams {
  handle: string;
  offset?: number;
  length?: number;
}

/** `jobs.get` and `jobs.cancel` request. */
export interface JobIdParams {
  id: string;
}

/** `jobs.list` request: the calling site's jobs, newest first. */
export interface JobListParams {
  limit?: number;
}

/** `diagnose` ("Tester la configuration de mon poste"). The page sends `navigator.userAgent`. */
export interface DiagnoseParams {
  user_agent?: string | null;
}

/** `sign`: sign (`mode` "sign"), co-sign ("cosign") or counter-sign ("countersign") files with the certificate `certificate` (an id from `certificates.list`), one consent and one PIN for the batch. `signer` is the SHA-256 of the certificate to counter-sign. */
export interface SignParams {
  files: SignFileParams[];
  certificate: string;
  level?: SignLevel;
  mode?: "sign" | "cosign" | "countersign";
  signer?: string | null;
  out_dir?: string | null;
  /** Same-origin URL each signed output is POSTed to (multipart field "file"). */
  upload_url?: string | null;
  /** Short-lived bearer token for `url` and `upload_url`; kept in memory only, never stored. */
  token?: string | null;
  /** XAdES options: claimed role (e.g. "Ordonnateur") and production place ({"City", "PostalCode", "CountryName"}). PES V2 files need both; missing fields are taken from the values the user last signed a PES flow with, else the job fails with INVALID_PARAMS before the consent. */
  claimed_role?: string | null;
  /** PAdES reason (also shown in a stamp), e.g. "Dépôt de l'offre". */
  reason?: string | null;
  production_place?: Record<string, string> | null;
}

/** One file to sign: a `handle` from `files.put` (pages) or a `path` (command line only; a page naming a path is refused). For a co-signature of a detached CAdES, `content_handle` or `content_path` is the signed file. */
export interface SignFileParams {
  format: SignFormat;
  handle?: string | null;
  /** A document on the page's own origin (relative or absolute URL); anything else is refused. */
  url?: string | null;
  path?: string | null;
  attached?: boolean;
  enveloped?: boolean;
  pes?: boolean;
  content_handle?: string | null;
  content_path?: string | null;
  stamp?: StampParams | null;
}

/** A visible PAdES stamp ("cachet"): page (1-based, -1 = last), box [x1, y1, x2, y2] in points; it shows the signer's name, the date and the reason. */
export interface StampParams {
  page?: number;
  box?: number[];
}

/** `verify`: check every signature of a file (PAdES, CAdES with co- and counter-signatures, XAdES). The file is a `handle`, a same-origin `url` or (command line only) a `path`; a detached signature's content likewise (`content_*`). `files` verifies several files in one job with one report (a whole pli): then the single-file fields are not given. */
export interface VerifyParams {
  handle?: string | null;
  url?: string | null;
  path?: string | null;
  content_handle?: string | null;
  content_url?: string | null;
  content_path?: string | null;
  token?: string | null;
  files?: VerifyFileRef[] | null;
}

/** One file of a `verify` batch: a `handle`, a same-origin `url` or (command line only) a `path`, and, for a detached signature whose content the page knows, that content (`content_*`); otherwise a token is paired by name with the batch's file it signs. */
export interface VerifyFileRef {
  handle?: string | null;
  url?: string | null;
  path?: string | null;
  content_handle?: string | null;
  content_url?: string | null;
  content_path?: string | null;
  /** The name the report shows (the command line gives the path relative to the folder walked). */
  name?: string | null;
}

/** `decrypt` ("Déchiffrement hors ligne"): open sealed bids (CMS envelopes) with a key the user holds. Without `certificate`, the agent uses whichever of the user's decryption keys is a recipient (personal or secours). `extract` unpacks a decrypted ZIP, safely. */
export interface DecryptParams {
  files: FileRef[];
  certificate?: string | null;
  extract?: boolean;
  out_dir?: string | null;
  token?: string | null;
}

/** A file for a job: a `handle` (uploaded or picked), a same-origin `url`, or a `path` (command line only). */
export interface FileRef {
  handle?: string | null;
  url?: string | null;
  path?: string | null;
}

/** `keygen`: create an encryption key pair named `name` (the certificate's CN), a backup ("secours") key when `secours`. `target` "p12" puts it in a new PKCS#12 file in the user's key folder (the consent's password field is the new file's password), "pkcs11" on a token named by `token_label` or by `token_certificate` (the id of any certificate on it, from `certificates.list`), "windows" in the user's Windows certificate store (non-exportable key, certificate in the Personal store; Windows only). `from_certificate` (an id from `certificates.list`) reuses the RSA key of that certificate instead of generating one. When `register_url` (same origin) is given, the public certificate is POSTed there as JSON with `token` as bearer. */
export interface KeygenParams {
  name: string;
  secours?: boolean;
  bits?: 2048 | 3072 | 4096;
  organization?: string | null;
  target?: "p12" | "pkcs11" | "windows";
  token_label?: string | null;
  token_certificate?: string | null;
  from_certificate?: string | null;
  /** Command line only: where to write the PKCS#12 file (a page naming a path is refused). */
  out?: string | null;
  /** Same-origin URL the public certificate is POSTed to (JSON); no registration when absent. */
  register_url?: string | null;
  /** Short-lived bearer token for `register_url`; kept in memory only, never stored. */
  token?: string | null;
}

/** `bids.download`: download the sealed plis of a consultation ("Télécharger les plis chiffrés"). `url` is the consultation descriptor on the page's own origin (PLATFORM.md); `token` a short-lived bearer token for it and its files, kept in memory only; `plis` restricts the download to these pli ids ("plis sélectionnés"). `out_dir` is for the command line only: a page naming a folder is refused. */
export interface BidsDownloadParams {
  url: string;
  token?: string | null;
  plis?: string[] | null;
  out_dir?: string | null;
}

/** `bids.open` ("Ouvrir en ligne"): fetch the sealed files of a consultation (as `bids.download` does, into the same folder: what is there already is only checked), decrypt them with a key the user holds (consent and PIN once, in the agent's own UI) and, when the descriptor gives a `result_url` and `upload` is true, send each opened file back to it (PLATFORM.md section 5). `plis` and `envelopes` (envelope ids, in every selected pli) restrict what is opened; `certificate` names the key (else whichever decryption key the user holds is a recipient). `out_dir` is for the command line only. */
export interface BidsOpenParams {
  url: string;
  token?: string | null;
  plis?: string[] | null;
  envelopes?: string[] | null;
  certificate?: string | null;
  upload?: boolean;
  out_dir?: string | null;
}

/** `encrypt`: seal files (CMS EnvelopedData, or AuthEnvelopedData with AES-GCM) to the consultation's encryption certificates (PEM), e.g. the buyer's personal and secours keys. */
export interface EncryptParams {
  files: FileRef[];
  recipients: string[];
  algorithm?: "aes-256-cbc" | "aes-256-gcm" | "aes-128-cbc" | "aes-128-gcm";
  key_transport?: "rsa-oaep" | "rsa-oaep-sha256" | "rsa-pkcs1v15";
  out_dir?: string | null;
  upload_url?: string | null;
  token?: string | null;
}

/** `jobs.start` request. `params` is checked by the job kind; `locale` sets its messages. */
export interface JobStartParams<K extends JobKind = JobKind> {
  kind: K;
  params: JobKinds[K]["params"];
  locale?: Locale | null;
}

// -- What the agent sends --------------------------------------------------------------

/** `agent.hello` answer. `capabilities` names what this agent can do (`job:<kind>`, methods). `paired`: this agent holds a pairing key for the calling site; `authenticated`: this connection proved it (`agent.auth`). Neither is proof of anything to the page: only the agent's `agent.auth` answer is. `update_required`: the page's `min_version` is above this agent's version. `update_available`: the newer version the agent's last update check found, else null. `consent_timeout`: the seconds the agent waits for the user's answer in its own UI (consent prompt, file picker); the calls of `WAITS_FOR_USER` may take that long before they answer. */
export interface HelloResult {
  product: "compagnon";
  version: string;
  protocol: number;
  capabilities: Capability[];
  paired: boolean;
  authenticated: boolean;
  update_required: boolean;
  update_available: string | null;
  consent_timeout: number;
}

/** `agent.pair` answer. `commit`: `commitment` = SHA-256(pk_A || n_A); `exchange` (once the user allowed the site in the agent, which shows the six-digit code): `public_key` only; `code`: the agent's `nonce` n_A, revealed once the page committed to the typed code; `confirm`: `paired` true and the agent's `proof` HMAC(K, "agent-confirm" || transcript || code). */
export interface PairResult {
  paired: boolean;
  commitment: string | null;
  public_key: string | null;
  nonce: string | null;
  proof: string | null;
}

/** `agent.auth` answer. `challenge`: the agent's fresh `nonce` and its `proof` HMAC(K, "agent" || origin || n_P || n_A), to be checked BEFORE the page sends anything else; `prove`: `authenticated` true. */
export interface AuthResult {
  authenticated: boolean;
  nonce: string | null;
  proof: string | null;
}

export interface CertificatesListResult {
  certificates: CertificateInfo[];
}

/** What a user chooses a certificate by, as in the reference platform's certificate list. `suitable` is the label "adapté aux marchés publics": qualified (QcCompliance, an eIDAS QCP or an RGS** / NCP+ policy), nonRepudiation, valid now and chaining to a trusted root. Otherwise `reasons` says why not, in the connection's language. */
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
  source: CertificateSource;
  purposes: Purpose[];
  suitable: boolean;
  reasons: string[];
}

/** Where the private key lives: a token (PKCS#11), a PKCS#12 file, or the OS store. */
export interface CertificateSource {
  kind: "pkcs11" | "pkcs12" | "windows" | "macos";
  label: string;
}

export interface FilePickResult {
  files: FileInfo[];
}

/** A file the agent holds for this site: what it uploaded, or what a job produced. */
export interface FileInfo {
  handle: string;
  name: string;
  size: number;
  sha256: string | null;
  complete: boolean;
}

export interface FileChunk {
  data: string;
  offset: number;
  eof: boolean;
  file: FileInfo;
}

/** The state of a job, as sent by `jobs.*` answers and `jobs.updated`. `speed` is in bytes per second while the job moves data, else null. Times are RFC 3339 UTC. */
export interface JobSnapshot<R = unknown> {
  id: string;
  kind: string;
  state: JobState;
  progress: number;
  steps: Step[];
  current: Current | null;
  message: string | null;
  result: R | null;
  error: JobError | null;
  created_at: string;
  updated_at: string;
  speed: number | null;
  subject: JobSubject | null;
}

/** One step of a job, with its own state and progress (0-100). */
export interface Step {
  id: string;
  label: string;
  state: StepState;
  progress: number;
}

/** The item being worked on, e.g. `{"label": "fichier", "index": 5, "total": 8}`. */
export interface Current {
  label: string;
  index: number;
  total: number;
}

/** Why a job failed: a stable `code` (see errors) and a message for the user. */
export interface JobError {
  code: string;
  message: string;
}

/** What a job works on, known before it ends: the consultation a `bids.download` or a `bids.open` is for (its reference, e.g. "DEMO-2026-001", and its title). */
export interface JobSubject {
  reference: string | null;
  title: string | null;
}

/** `diagnose` result: every check and the overall verdict (the worst status). */
export interface DiagnoseResult {
  checks: DiagnoseCheck[];
  status: CheckStatus;
  message: string;
}

/** One prerequisite: `label` as shown in the "Prérequis" column, `value` in "Résultat". */
export interface DiagnoseCheck {
  id: string;
  label: string;
  status: CheckStatus;
  value: string;
  message: string;
}

export interface SignResult {
  files: SignedFile[];
  signed: number;
  failed: number;
}

/** One file of the batch: its output (name, handle for `files.get`, folder) or its error. */
export interface SignedFile {
  source: string;
  format: SignFormat;
  status: "signed" | "failed";
  sha256: string | null;
  output: string | null;
  output_handle: string | null;
  folder: string | null;
  uploaded: boolean;
  error: JobError | null;
}

/** The JSON report (`{"file", "signatures": [{"id", "format", "level", "signer", "signing_time", "signing_time_source", "indication", "sub_indication", "checks", "countersignatures", "covers"?}], "container"?}`, `covers` and `container` for an ASiC container only; with `files`, `{"summary", "files": [{"file", "status", "format", "content", "signed_by", "indication", "signatures", "error", "container"}]}`), the overall verdict, the batch's counts (`summary`, with `files` only), and the HTML report ("Ouvrir le rapport") as a file handle. */
export interface VerifyResult {
  report: VerificationReport | VerifyBatchReport;
  indication: Indication;
  report_name: string;
  report_handle: string | null;
  summary: VerifySummary | null;
}

/** The counts at the top of a multi-file report: files, signatures (counter-signatures and document time-stamps included) valid / invalid / indeterminate, files without any signature (not counting a file a detached signature of the batch covers), unreadable files. */
export interface VerifySummary {
  files: number;
  signatures: number;
  valid: number;
  invalid: number;
  indeterminate: number;
  unsigned: number;
  errors: number;
  indication: Indication;
}

export interface DecryptResult {
  files: DecryptedFile[];
  decrypted: number;
  failed: number;
}

export interface DecryptedFile {
  source: string;
  status: "decrypted" | "failed";
  output: string | null;
  output_handle: string | null;
  folder: string | null;
  size: number | null;
  sha256: string | null;
  algorithm: string | null;
  extracted: string[];
  /** The signatures of the decrypted file, checked in the same job. */
  signature: SignatureCheck | null;
  /** The signatures of each file of `extracted` (same order), checked in the same job. */
  extracted_signatures: SignatureCheck[];
  error: JobError | null;
}

/** The analyse of one file a job opened (`decrypt`, `bids.open`), made in the same job with the `verify` engine: `status` "signed" (`indication` is the file's verdict, ETSI EN 319 102-1: the worst of its signatures'), "unsigned" ("non signé": no signature in it, which is no failure) or "error" (it could not be checked: `error`). A file signed by detached signatures opened in the same job (`offre.pdf` and `offre.pdf.p7s`) takes their verdict and names them in `signed_by`; a detached signature names the file it signs in `content`. `label` is the verdict in the job's language; `report_name`/`report_handle` the HTML report of a signed file (a path for the command line, a handle for `files.get` for a page). */
export interface SignatureCheck {
  status: "signed" | "unsigned" | "error";
  label: string;
  indication: Indication | null;
  format: string | null;
  signers: string[];
  signatures: number;
  signed_by: string[];
  content: string | null;
  report_name: string | null;
  report_handle: string | null;
  error: JobError | null;
}

/** The new encryption certificate (PEM) and where its private key is: `store` "pkcs11" (`location` is the token's label), "pkcs12" (`location` is the file name; the full path for the command line) or "windows" (`location` names the Windows store and the bi-clé). `id` is the certificate's id as `certificates.list` gives it. `registered` tells whether the platform accepted it; `register_error` says why not. */
export interface KeygenResult {
  certificate: string;
  sha256: string;
  id: string;
  name: string;
  secours: boolean;
  bits: number;
  store: "pkcs11" | "pkcs12" | "windows";
  location: string;
  not_after: string;
  registered: boolean;
  register_error: JobError | null;
}

/** `files` holds every file that is in the folder, checked; `failed` the files that are not. A job that fails because some files failed keeps this result (with both lists). */
export interface BidsDownloadResult {
  consultation: string;
  title: string;
  /** The folder as the page may show it (`~/Documents/...`); the full path for the command line. */
  folder: string;
  plis: number;
  files: DownloadedFile[];
  /** Total size of the files, and the bytes this job received from the platform. */
  bytes: number;
  transferred: number;
  failed: FailedDownload[];
}

/** One file of the consultation: where it is (`name`, relative to the folder, with `/`), its verified size and SHA-256, and whether it was `downloaded` whole, `resumed` from an earlier part, or already `present` and complete. */
export interface DownloadedFile {
  pli: string;
  envelope: string;
  file: string;
  name: string;
  size: number;
  sha256: string;
  status: "downloaded" | "resumed" | "present";
  /** Bytes received from the platform for it by this job. */
  transferred: number;
}

/** A file of the consultation that could not be had (`error`: FILE_UNREADABLE when its SHA-256 or size differs from the descriptor's, FILE_NOT_FOUND when the platform lacks it). */
export interface FailedDownload {
  pli: string;
  envelope: string;
  file: string;
  name: string;
  error: JobError;
}

export interface BidsOpenResult {
  consultation: string;
  title: string;
  reference: string | null;
  /** The folder as the page may show it (`~/Documents/...`); the full path for the command line. */
  folder: string;
  /** Envelopes (of all selected plis) that had files to open. */
  envelopes: number;
  opened: number;
  failed: number;
  uploaded: number;
  files: OpenedFile[];
}

/** One sealed file of the consultation and what became of it: `status` "opened" (`name` is the opened file, relative to the folder, with its size and SHA-256) or "failed" (`error`). `uploaded` tells whether the platform accepted the opened content. */
export interface OpenedFile {
  pli: string;
  envelope: string;
  file: string;
  source: string;
  sealed_sha256: string;
  status: "opened" | "failed";
  name: string | null;
  size: number | null;
  sha256: string | null;
  algorithm: string | null;
  /** A handle on the opened file for `files.get` (pages only: open or download it). */
  handle: string | null;
  /** The signatures of the opened file, checked in the same job ("Ouverture et analyse"). */
  signature: SignatureCheck | null;
  uploaded: boolean;
  error: JobError | null;
}

/** With `upload_url`, `receipt` is the deposit receipt the platform returned with the last file it accepted (`bridge_protocol.platform.DepositReceipt`: the pli's files with their sizes and SHA-256, and the time), kept with the job; None when the platform gave none. */
export interface EncryptResult {
  files: EncryptedFile[];
  encrypted: number;
  failed: number;
  receipt: DepositReceipt | null;
}

/** One sealed file: its output (name, handle, folder, size and SHA-256 of the sealed bytes), whether the platform accepted it (`uploaded`) and whether the platform's receipt lists it with that size and SHA-256 (`receipted`). */
export interface EncryptedFile {
  source: string;
  status: "encrypted" | "failed";
  output: string | null;
  output_handle: string | null;
  folder: string | null;
  size: number | null;
  sha256: string | null;
  uploaded: boolean;
  receipted: boolean;
  error: JobError | null;
}

/** The receipt ("accusé de réception") a platform returns for a deposited sealed file, as the `receipt` member of its JSON answer (PLATFORM.md section 6): the pli with every file received in it so far, and when the platform received the last one (RFC 3339, UTC). */
export interface DepositReceipt {
  id: string;
  consultation: string;
  pli: string;
  received_at: string;
  files: ReceiptFile[];
  /** The pli as users know it ("Pli 3"). */
  label: string | null;
}

/** One sealed file as the platform received it: its name in the pli, size and SHA-256. */
export interface ReceiptFile {
  name: string;
  size: number;
  sha256: string;
}

/** `jobs.updated` notification, sent to every connection of the job's site on each change. */
export interface JobUpdated {
  job: JobSnapshot;
}

/** The status of one check of a signature or container. */
export type CheckOutcome = "passed" | "failed" | "warning" | "not_checked" | "not_applicable";

export interface ReportCheck {
  name: string;
  status: CheckOutcome;
  message: string;
}

/** A PES V2 signature's rules of the DGFiP's checker (beside the ETSI indication, never part of it). */
export interface PesConformance {
  profile: string;
  result: "OK" | "NOK";
  rules: Array<{ name: string; result: "OK" | "NOK" | "NOT_CHECKED"; status: string; message: string }>;
}

export interface SignatureReport {
  id: string;
  format: string;
  level: string | null;
  signer: { name: string | null; organization: string | null; certificate_sha256: string | null; [member: string]: unknown };
  signing_time: string | null;
  signing_time_source: "timestamp" | "claimed" | null;
  indication: Indication;
  sub_indication: string | null;
  checks: ReportCheck[];
  countersignatures: SignatureReport[];
  /** Files of the ASiC container this signature covers (paths inside it); only in a container. */
  covers?: string[];
  /** PES V2 only: what the signer declared in signed XAdES properties, and where the signature sits. */
  properties?: Record<string, unknown>;
  /** PES V2 only. */
  conformance?: PesConformance;
  [member: string]: unknown;
}

/** The ASiC container (ETSI EN 319 162-1) the signatures came from. */
export interface ContainerReport {
  type: "ASiC-S" | "ASiC-E" | "ZIP";
  files: string[];
  /** Data files that no signature covers. */
  uncovered: string[];
  checks: ReportCheck[];
  [member: string]: unknown;
}

/** The report of one file (`verify` with a single file). */
export interface VerificationReport {
  file: string;
  signatures: SignatureReport[];
  /** Documents the file encapsulates (the PDF, XML document or CMS signature inside an attached CAdES .p7m, nested up to 4 levels), each with its own signatures. */
  contents?: VerificationReport[];
  /** Present when the file is an ASiC container: its files, and those no signature covers. */
  container?: ContainerReport;
  [member: string]: unknown;
}

/** One file of a multi-file verification (`verify` with `files`). */
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
  contents: VerificationReport[];
  error: JobError | null;
  container: ContainerReport | null;
  [member: string]: unknown;
}

/** The report of a multi-file verification. */
export interface VerifyBatchReport {
  summary: VerifySummary;
  files: VerifiedFile[];
}

// -- Methods, job kinds, notifications -------------------------------------------------

/** Every method the agent answers: its params and its result. */
export interface Methods {
  /** Say hello: version, protocol, capabilities. */
  "agent.hello": { params: HelloParams; result: HelloResult };
  /** Pair this site once: ECDH, a code the agent shows and the user types in the page, a shared key. */
  "agent.pair": { params: PairParams; result: PairResult };
  /** Prove both sides hold the site's pairing key (each connection, before anything else). */
  "agent.auth": { params: AuthParams; result: AuthResult };
  /** The user's certificates with a private key, with their facts (pairing and consent first). */
  "certificates.list": { params: CertificatesListParams; result: CertificatesListResult };
  /** Let the user choose local files in the agent's picker. */
  "files.pick": { params: FilePickParams; result: FilePickResult };
  /** Upload a file in base64 chunks; returns its handle. */
  "files.put": { params: FilePutParams; result: FileInfo };
  /** Read a chunk of a file this site owns (e.g. a signed output). */
  "files.get": { params: FileGetParams; result: FileChunk };
  /** Start a job of a given kind. */
  "jobs.start": { params: JobStartParams; result: JobSnapshot };
  /** The snapshot of one of this site's jobs. */
  "jobs.get": { params: JobIdParams; result: JobSnapshot };
  /** This site's jobs, newest first. */
  "jobs.list": { params: JobListParams; result: JobSnapshot[] };
  /** Cancel a job; cancelling a finished job is a no-op. */
  "jobs.cancel": { params: JobIdParams; result: JobSnapshot };
}

/** Every job kind: what `jobs.start` takes in `params`, the snapshot's `result` once it succeeded, and the error codes it is documented to give (the failed job's `error.code`, or a file's). */
export interface JobKinds {
  /** Test the workstation: system, agent, key stores, browser, platform link, clock, port. */
  "diagnose": { params: DiagnoseParams; result: DiagnoseResult; errors: "INVALID_PARAMS" | "JOB_INTERRUPTED" };
  /** Sign, co-sign or counter-sign files in PAdES, CAdES or XAdES (one consent and PIN per batch). */
  "sign": { params: SignParams; result: SignResult; errors: "USER_CANCELLED" | "PIN_INCORRECT" | "PIN_LOCKED" | "PIN_REQUIRED" | "TOKEN_REMOVED" | "KEY_USAGE_NOT_SIGNING" | "ORIGIN_NOT_ALLOWED" | "PLATFORM_UNREACHABLE" | "INVALID_PARAMS" | "JOB_INTERRUPTED" };
  /** Verify every signature of a file with a report (JSON and HTML, French or English). */
  "verify": { params: VerifyParams; result: VerifyResult; errors: "FILE_UNREADABLE" | "FILE_NOT_FOUND" | "FILE_TOO_LARGE" | "ORIGIN_NOT_ALLOWED" | "INVALID_PARAMS" | "JOB_INTERRUPTED" };
  /** Open sealed bids (CMS envelopes) with a decryption key the user holds; consent and PIN once. */
  "decrypt": { params: DecryptParams; result: DecryptResult; errors: "NO_MATCHING_RECIPIENT" | "DECRYPTION_FAILED" | "UNSUPPORTED_ALGORITHM" | "FILE_UNREADABLE" | "ARCHIVE_UNSAFE" | "INVALID_PARAMS" | "JOB_INTERRUPTED" };
  /** Create an encryption key pair ('bi-clé', personal or secours) on a token or in a PKCS#12 file, or from an existing certificate's key, and register its certificate with the platform. */
  "keygen": { params: KeygenParams; result: KeygenResult; errors: "ORIGIN_NOT_ALLOWED" | "USER_CANCELLED" | "PIN_REQUIRED" | "INVALID_PARAMS" | "JOB_INTERRUPTED" };
  /** Download the sealed plis of a consultation (Range resume, SHA-256 checked, free space first). */
  "bids.download": { params: BidsDownloadParams; result: BidsDownloadResult; errors: "PLATFORM_UNREACHABLE" | "FILE_NOT_FOUND" | "FILE_UNREADABLE" | "FILE_TOO_LARGE" | "ORIGIN_NOT_ALLOWED" | "INVALID_PARAMS" | "JOB_INTERRUPTED" };
  /** Open a consultation's sealed plis online: fetch, decrypt with the user's key (consent and PIN once), send the opened files back to the platform. */
  "bids.open": { params: BidsOpenParams; result: BidsOpenResult; errors: "NO_MATCHING_RECIPIENT" | "DECRYPTION_FAILED" | "PLATFORM_UNREACHABLE" | "ORIGIN_NOT_ALLOWED" | "USER_CANCELLED" | "INVALID_PARAMS" | "JOB_INTERRUPTED" };
  /** Seal files to the consultation's encryption certificates (openssl cms -decrypt opens them). */
  "encrypt": { params: EncryptParams; result: EncryptResult; errors: "KEY_USAGE_NOT_ENCRYPTION" | "ORIGIN_NOT_ALLOWED" | "INVALID_PARAMS" | "JOB_INTERRUPTED" };
}

export type MethodName = keyof Methods;
export type JobKind = keyof JobKinds;
/** Optional features an agent announces in `capabilities` (PROTOCOL.md "Versioning"). */
export interface Features {
  /** agent.hello takes `min_version` and answers `update_required` and `update_available`. */
  "hello:min_version": true;
  /** agent.hello answers `consent_timeout`: how long the calls that wait for the user may take. */
  "hello:consent_timeout": true;
  /** Job snapshots carry `subject` (the consultation a bids.download or bids.open is for). */
  "jobs:subject": true;
  /** sign POSTs each signed output to `upload_url` (PLATFORM.md section 9). */
  "sign:upload": true;
  /** verify takes `files`: several files, one report with its `summary`. */
  "verify:files": true;
  /** encrypt POSTs each sealed file to `upload_url` (PLATFORM.md section 6). */
  "encrypt:upload": true;
  /** encrypt reads the platform's deposit receipt and keeps it in its result. */
  "encrypt:receipt": true;
  /** keygen POSTs the new certificate to `register_url` (PLATFORM.md section 9). */
  "keygen:register": true;
  /** bids.open sends each opened file to the descriptor's `result_url`. */
  "bids.open:upload": true;
  /** bids.open and decrypt check each opened file's signatures in the same job: each file's `signature` (verdict, signers, report handle); bids.open sends the verdict with the file. */
  "open:analyse": true;
}
export type Feature = keyof Features;
/** What `agent.hello` lists in `capabilities`: methods, `job:<kind>` and features. An agent of a
 *  later revision may list more: test for what you need, ignore the rest. */
export type Capability = MethodName | `job:${JobKind}` | Feature | (string & {});

/** Notifications the agent sends (JSON-RPC requests without `id`). */
export interface Notifications {
  "jobs.updated": JobUpdated;
}

// -- Errors ----------------------------------------------------------------------------

/** The stable codes (`error.data.code` of a JSON-RPC error, `error.code` of a failed job) and
 *  their JSON-RPC `error.code`. Pages branch on the stable code only. */
export interface ErrorCodes {
  /** Message illisible : JSON invalide. / Unreadable message: invalid JSON. */
  PARSE_ERROR: -32700;
  /** Requête JSON-RPC 2.0 invalide. / Invalid JSON-RPC 2.0 request. */
  INVALID_REQUEST: -32600;
  /** Méthode inconnue. / Unknown method. */
  METHOD_NOT_FOUND: -32601;
  /** Paramètres invalides. / Invalid parameters. */
  INVALID_PARAMS: -32602;
  /** Erreur interne de Compagnon. Consultez le journal de l'agent. / Compagnon internal error. See the agent's log. */
  INTERNAL_ERROR: -32603;
  /** Version du protocole non prise en charge par cette version de Compagnon. / Protocol version not supported by this version of Compagnon. */
  PROTOCOL_UNSUPPORTED: -32001;
  /** Trop de requêtes : réessayez plus tard. / Too many requests: try again later. */
  TOO_MANY_REQUESTS: -32002;
  /** L'utilisateur n'a pas autorisé ce site à utiliser Compagnon. / The user did not allow this site to use Compagnon. */
  PAIRING_REFUSED: -32010;
  /** Opération refusée par l'utilisateur. / Operation refused by the user. */
  USER_CANCELLED: -32011;
  /** L'utilisateur n'a pas répondu à temps. / The user did not answer in time. */
  USER_TIMEOUT: -32012;
  /** Compagnon ne peut pas demander l'accord de l'utilisateur (aucune fenêtre ni terminal). / Compagnon cannot ask for the user's consent (no window nor terminal). */
  CONSENT_UNAVAILABLE: -32013;
  /** Trop de demandes d'autorisation de ce site : une demande est déjà affichée ou la limite par minute est atteinte. Réessayez plus tard. / Too many authorisation requests from this site: one is already shown or the limit per minute was reached. Try again later. */
  CONSENT_RATE_LIMITED: -32014;
  /** Connexion non authentifiée : la page doit d'abord prouver qu'elle est jumelée avec ce Compagnon (agent.auth). / Connection not authenticated: the page must first prove it is paired with this Compagnon (agent.auth). */
  NOT_AUTHENTICATED: -32015;
  /** Ce site n'est pas jumelé avec ce Compagnon (ou le jumelage a été retiré) : jumelez-le à nouveau. / This site is not paired with this Compagnon (or the pairing was removed): pair it again. */
  NOT_PAIRED: -32016;
  /** Jumelage interrompu : étape inattendue ou preuve incorrecte. Recommencez le jumelage. / Pairing interrupted: unexpected step or wrong proof. Start the pairing again. */
  PAIRING_FAILED: -32017;
  /** Code de jumelage incorrect : ce jumelage est annulé. Recommencez le jumelage et tapez le nouveau code que Compagnon affiche. / Incorrect pairing code: this pairing is cancelled. Start the pairing again and type the new code Compagnon shows. */
  PAIRING_CODE_INCORRECT: -32019;
  /** Authentification refusée : la preuve de la page est incorrecte ou déjà utilisée. / Authentication refused: the page's proof is wrong or was already used. */
  AUTH_FAILED: -32018;
  /** Type de traitement inconnu. / Unknown job kind. */
  UNKNOWN_JOB_KIND: -32020;
  /** Traitement introuvable. / Job not found. */
  JOB_NOT_FOUND: -32021;
  /** Traitement interrompu : Compagnon s'est arrêté pendant son exécution. / Job interrupted: Compagnon stopped while it was running. */
  JOB_INTERRUPTED: -32022;
  /** Code PIN ou mot de passe incorrect. / Incorrect PIN or password. */
  PIN_INCORRECT: -32040;
  /** Code PIN bloqué : utilisez le code de déblocage (PUK) fourni avec votre support. / PIN locked: use the unblocking code (PUK) supplied with your token. */
  PIN_LOCKED: -32041;
  /** Le code PIN ou le mot de passe est nécessaire. / The PIN or password is required. */
  PIN_REQUIRED: -32042;
  /** Le support (carte à puce ou clé USB) a été retiré. / The token (smart card or USB key) was removed. */
  TOKEN_REMOVED: -32043;
  /** Certificat introuvable : il n'est plus disponible sur ce poste. / Certificate not found: it is no longer available on this workstation. */
  NO_SUCH_CERTIFICATE: -32044;
  /** La clé privée de ce certificat ne permet pas cette opération. / This certificate's private key cannot perform this operation. */
  KEY_NOT_USABLE: -32045;
  /** Ce certificat ne permet pas de signer : son usage de clé le réserve à autre chose (chiffrement…). / This certificate cannot sign: its key usage reserves it for something else (encryption…). */
  KEY_USAGE_NOT_SIGNING: -32046;
  /** Ce certificat ne permet pas de chiffrer pour son titulaire : son usage de clé le réserve à la signature. / This certificate cannot receive encrypted content: its key usage reserves it for signing. */
  KEY_USAGE_NOT_ENCRYPTION: -32047;
  /** Aucune de vos clés de déchiffrement n'est destinataire de ce pli. / None of your decryption keys is a recipient of this bid. */
  NO_MATCHING_RECIPIENT: -32060;
  /** Déchiffrement impossible : la clé ne convient pas ou l'enveloppe a été altérée. / Decryption failed: the key does not fit or the envelope was altered. */
  DECRYPTION_FAILED: -32061;
  /** Algorithme de chiffrement non pris en charge. / Unsupported encryption algorithm. */
  UNSUPPORTED_ALGORITHM: -32062;
  /** Archive refusée : un fichier sortirait du dossier ou sa taille décompressée est anormale. / Archive refused: an entry would leave the folder or its uncompressed size is abnormal. */
  ARCHIVE_UNSAFE: -32063;
  /** Fichier introuvable. / File not found. */
  FILE_NOT_FOUND: -32050;
  /** Fichier trop volumineux. / File too large. */
  FILE_TOO_LARGE: -32051;
  /** Fichier illisible ou dans un format inattendu. / Unreadable file or unexpected format. */
  FILE_UNREADABLE: -32052;
  /** Adresse refusée : Compagnon ne contacte que le site qui a lancé le traitement. / Address refused: Compagnon only contacts the site that started the job. */
  ORIGIN_NOT_ALLOWED: -32030;
  /** Impossible de joindre la plateforme. / The platform cannot be reached. */
  PLATFORM_UNREACHABLE: -32031;
}
export type ErrorCode = keyof ErrorCodes;

/** A JSON-RPC 2.0 error as the agent sends it: `message` in the connection's language. */
export interface RpcError {
  code: number;
  message: string;
  data: { code: ErrorCode; [detail: string]: unknown };
}
