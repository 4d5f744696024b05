// A platform page in TypeScript using every method and job kind of the bridge protocol through
// the browser client's types (bridge_protocol/js/compagnon.d.ts and the generated protocol.d.ts).
// tests/unit/test_typescript_kit.py compiles it with `tsc --strict`; the `@ts-expect-error` lines
// are calls the types must refuse (the compilation fails if one of them is accepted).
//
// Copy compagnon.js, compagnon.d.ts and protocol.d.ts beside your page's sources (and job-view.js and
// job-view.d.ts for the job view).

import { CompagnonClient, CompagnonError, TERMINAL_STATES } from "./compagnon.js";
import { JobView } from "./job-view.js";
import type {
  BidsDownloadResult, BidsOpenResult, CertificateInfo, DecryptResult, DiagnoseResult, EncryptResult, ErrorCode,
  FileInfo, HelloResult, JobSnapshot, KeygenResult, SignResult, VerifyResult,
} from "./compagnon.js";

const client = new CompagnonClient({ clientName: "ma-plateforme", clientVersion: "4.2", locale: "fr", minVersion: "0.1.0" });

function show(text: string): void {
  const line = document.createElement("p");
  line.textContent = text;
  document.body.append(line);
}

function progress(job: JobSnapshot): void {
  const subject = job.subject ? ` (${job.subject.reference ?? ""} ${job.subject.title ?? ""})` : "";
  const speed = job.speed !== null ? ` ${Math.round(job.speed / 1024)} Kio/s` : "";
  show(`${job.kind} ${job.state} ${job.progress} %${subject}${speed} ${job.message ?? ""}`);
  for (const step of job.steps) show(`  ${step.label}: ${step.state} ${step.progress} %`);
  if (job.current) show(`  ${job.current.label} ${job.current.index}/${job.current.total}`);
}

/** Bytes to base64, in pieces that fit one `files.put`. */
function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

async function upload(file: File): Promise<FileInfo> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const piece = 512 * 1024;
  let info: FileInfo = await client.call("files.put", {
    name: file.name, data: toBase64(bytes.subarray(0, piece)), final: bytes.length <= piece,
  });
  for (let at = piece; at < bytes.length; at += piece) {
    info = await client.call("files.put", {
      handle: info.handle, data: toBase64(bytes.subarray(at, at + piece)), final: at + piece >= bytes.length,
    }, { timeout: 60_000 });
  }
  return info;
}

async function download(handle: string): Promise<Blob> {
  const parts: BlobPart[] = [];
  let offset = 0;
  for (;;) {
    const chunk = await client.call("files.get", { handle, offset }, { timeout: 60_000 });
    const bytes = Uint8Array.from(atob(chunk.data), (c) => c.charCodeAt(0));
    parts.push(bytes);
    offset += bytes.length;
    if (chunk.eof) return new Blob(parts, { type: "application/octet-stream" });
  }
}

export async function everything(files: File[], token: string, recipients: string[]): Promise<void> {
  client.addEventListener("online", (event) => {
    const hello: HelloResult = event.detail;
    show(`Compagnon ${hello.version}${hello.update_required ? " : mise à jour requise" : ""}`);
  });
  client.addEventListener("job", (event) => progress(event.detail));
  await client.connect();
  if (client.state === "unpaired") {
    await client.pair({ readCode: () => prompt("Code affiché par Compagnon") ?? "" });
  }

  // Methods, typed with and without call options (the consent may take the user two minutes).
  const hello = await client.call("agent.hello", { protocol: 1, client: { name: "ma-plateforme", version: "4.2" } });
  const capabilities: string[] = hello.capabilities;
  const { certificates } = await client.call("certificates.list", { purpose: "signing" }, { timeout: 180_000 });
  const suitable: CertificateInfo | undefined = certificates.find((c) => c.suitable);
  const picked = await client.call("files.pick", { multiple: true, accept: [".pdf"] }, { timeout: 300_000 });
  const uploaded = await Promise.all(files.map(upload));
  const listed: JobSnapshot[] = await client.call("jobs.list", { limit: 10 });
  const none = await client.call("jobs.list");
  show(`${capabilities.length} ${listed.length + none.length} ${picked.files.length}`);

  // Every job kind: params checked, result typed.
  const diagnose = await client.runJob("diagnose", { user_agent: navigator.userAgent }, progress);
  const diag: DiagnoseResult | null = diagnose.result;
  for (const check of diag?.checks ?? []) show(`${check.label}: ${check.status} ${check.value}`);

  if (!suitable) return;
  const sign = await client.runJob("sign", {
    certificate: suitable.id, level: "B-T", reason: "Dépôt de l'offre", token,
    files: uploaded.map((f) => ({ handle: f.handle, format: "pades" as const, stamp: { page: -1 } })),
  }, progress, { timeout: 180_000 });
  const signed: SignResult | null = sign.result;
  for (const file of signed?.files ?? []) {
    if (file.output_handle) await download(file.output_handle);
    if (file.error) show(`${file.source}: ${file.error.code}`);
  }

  const verify = await client.runJob("verify", { handle: uploaded[0].handle }, progress);
  const report: VerifyResult | null = verify.result;
  if (report && "signatures" in report.report) {
    for (const signature of report.report.signatures) show(`${signature.signer.name}: ${signature.indication}`);
  }
  const batch = await client.runJob("verify", { files: uploaded.map((f) => ({ handle: f.handle, name: f.name })) });
  show(`${batch.result?.summary?.valid ?? 0} valides`);

  const keygen = await client.runJob("keygen", { name: "Jean DUPONT", secours: false, register_url: "/api/keys", token });
  const key: KeygenResult | null = keygen.result;
  show(`${key?.location} ${key?.registered}`);

  // The kit's job view draws the job as it runs (steps, waiting for the user, failure, "Annuler").
  const view = new JobView(document.body.appendChild(document.createElement("div")), { client, showError: true });
  view.note("Chiffrement de l'offre…");
  const encrypt = await client.runJob("encrypt", {
    files: uploaded.map((f) => ({ handle: f.handle })), recipients, algorithm: "aes-256-gcm",
    upload_url: "/api/consultations/DEMO-2026-002/plis?depot=d1", token,
  }, (job) => view.update(job));
  const sealed: EncryptResult | null = encrypt.result;
  show(`${sealed?.encrypted} chiffré(s)`);

  const decrypt = await client.runJob("decrypt", { files: picked.files.map((f) => ({ handle: f.handle })), extract: true });
  const opened: DecryptResult | null = decrypt.result;
  for (const file of opened?.files ?? []) show(`${file.source}: ${file.status} ${file.extracted.join(", ")}`);

  const download_ = await client.runJob("bids.download", { url: "/api/consultations/DEMO-2026-001", token, plis: ["p1"] });
  const downloaded: BidsDownloadResult | null = download_.result;
  show(`${downloaded?.folder} ${downloaded?.files.map((f) => f.status).join(" ")}`);

  const online = await client.runJob("bids.open", { url: "/api/consultations/DEMO-2026-002", token, upload: true });
  const result: BidsOpenResult | null = online.result;
  if (online.state === "failed" && online.error) show(`${online.error.code}: ${online.error.message}`);
  show(`${result?.opened} ouvert(s), ${result?.uploaded} transmis`);

  // A job followed after a reload, and cancelled.
  const again = await client.followJob<BidsOpenResult>(online.id, progress);
  if (!TERMINAL_STATES.includes(again.state)) await client.cancelJob(again.id);

  // A kind a newer agent may have: untyped, and only when the agent says it has it.
  if (capabilities.includes("job:archive")) await client.runJob("archive", { anything: true });

  try {
    await client.call("jobs.get", { id: "inconnu" });
  } catch (error) {
    if (error instanceof CompagnonError) {
      const code: string = error.code;
      const known: ErrorCode | null = code === "JOB_NOT_FOUND" ? code : null;
      show(`${known}`);
    }
  }

  // What the types refuse.
  // @ts-expect-error: a sign job needs a certificate.
  await client.runJob("sign", { files: [] });
  // @ts-expect-error: formats are pades, cades or xades.
  await client.runJob("sign", { certificate: "x", files: [{ handle: "h", format: "pdf" }] });
  // @ts-expect-error: files.put's data is base64 text.
  await client.call("files.put", { data: 42 }, { timeout: 1000 });
  // @ts-expect-error: the result keeps its type with options: FileInfo has no `certificates`.
  (await client.call("files.put", { data: "" }, { timeout: 1000 })).certificates;
  // @ts-expect-error: unknown member of bids.open's params.
  await client.runJob("bids.open", { url: "/c", uplaod: false });
  // @ts-expect-error: the job view writes French or English only.
  new JobView(document.body, { locale: "de" });
  // @ts-expect-error: the snapshot's subject is an object, not a string.
  const subject: string = online.subject;
  show(String(subject));
}
