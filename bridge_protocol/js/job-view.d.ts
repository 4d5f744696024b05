// Types of the Compagnon job view (job-view.js): the live display of one job, shared by the demo
// platform's pages and the agent's console, and offered to platforms with the client.

import type { JobSnapshot, Locale, StepState } from "./protocol.js";

/** The keys of the view's own texts. */
export type JobViewTextKey = "cancel" | "itemOf" | "waitingYou" | "waitingPlace" | "speed" | "speedUnit";

/** The view's texts, French and English (`{fields}` filled in when drawn). */
export declare const JOB_VIEW_TEXTS: Readonly<Record<Locale, Readonly<Record<JobViewTextKey, string>>>>;

/** The mark of each step state, and of "waiting-user" (the consent step while the user is asked). */
export declare const STEP_MARKS: Readonly<Record<StepState | "waiting-user", string>>;

export interface JobViewOptions {
  /** The page's CompagnonClient: "Annuler" calls `cancelJob(id)`; its `locale` is the view's by default. */
  client?: { cancelJob(id: string): Promise<unknown>; locale?: Locale } | null;
  /** What "Annuler" does instead of `client.cancelJob`. */
  cancel?: ((job: JobSnapshot) => unknown) | null;
  /** "fr" or "en", or a function read at each drawing (a page that switches its language). */
  locale?: Locale | (() => Locale) | null;
  /** The page's own text for a key (undefined: the view's). */
  translate?: ((key: JobViewTextKey, fields: Record<string, unknown>) => string | undefined) | null;
  /** Show a failed job's error message in the view (default: no, the page says it as its verdict). */
  showError?: boolean;
}

export declare class JobView {
  /** Draws inside `container`; its `id` prefixes the view's element ids (`<id>-steps`, `<id>-progress`…). */
  constructor(container: HTMLElement, options?: JobViewOptions);
  readonly container: HTMLElement;
  /** The snapshot drawn last (null before the first, and after `note()`). */
  job: JobSnapshot | null;
  /** The language the view writes in now. */
  readonly locale: Locale;
  /** A text of the view in its language. */
  t(key: JobViewTextKey, fields?: Record<string, unknown>): string;
  /** Show `text` before the job starts (e.g. the files being handed to the agent). */
  note(text: string): void;
  /** Draw a snapshot: the `onUpdate` of `client.runJob`, or a job of any list. */
  update(job: JobSnapshot): void;
  /** Draw again in the current language. */
  refresh(): void;
  /** Bytes per second as the view writes a speed ("1 234,5 Ko/s"). */
  formatSpeed(bytesPerSecond: number): string;
}
