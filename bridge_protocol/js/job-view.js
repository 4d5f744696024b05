// Compagnon job view (ES module): the live display of one job, shared by the demo platform's pages
// and the agent's local console, and offered to platforms with the client (compagnon.js).
//
// It draws a job snapshot (PROTOCOL.md section 4: `steps`, `progress`, `current`, `speed`,
// `message`, `error`) inside a container of the page: each step with its mark (✓ done, ✗ failed or
// cancelled, ▸ running with its %, ⏳ waiting for the user, ○ to come, – skipped), the overall bar
// and its %, the item being worked on, the speed, a distinct "waiting for you in Compagnon" state
// while the job waits for the user (the agent's own words in `message` say where: its window, its
// console or its terminal), the failure, and a cancel button while the job runs. Once the job has
// ended, nothing that was only true while it ran is left (item, speed, waiting, cancel).
//
// Elements (ids prefixed with the container's id, so two views can share a page):
//   #<id>-current  the item being worked on ("fichier 2 sur 3")      .job-current
//   #<id>-waiting  "Compagnon attend votre réponse."                    .job-waiting
//   #<id>-steps    the steps, one <li data-step data-state> each        .job-steps (.mark, .step-label, .step-percent)
//   #<id>-progress the bar and its %                                    .job-progress (.job-percent)
//   #<id>-speed    the speed while data moves                           .job-speed
//   #<id>-message  the job's message (where to answer while it waits)   .job-message
//   #<id>-error    a failed job's error, with `showError` only          .job-error (data-code)
//   #<id>-cancel   "Annuler" while the job runs                         .job-cancel
// The container gets `data-state`: "preparing" (after `note()`), "waiting-user", or the job's state.
//
// Its texts are its own, French first and English; nothing of the page is needed but the options.

/** The view's texts, French and English. */
export const JOB_VIEW_TEXTS = Object.freeze({
  fr: {
    cancel: "Annuler",
    itemOf: "{label} {i} sur {n}",
    waitingYou: "Compagnon attend votre réponse.",
    waitingPlace: "Répondez dans Compagnon.",
    speed: "Débit : {speed}",
    speedUnit: "Ko/s",
  },
  en: {
    cancel: "Cancel",
    itemOf: "{label} {i} of {n}",
    waitingYou: "Compagnon is waiting for your answer.",
    waitingPlace: "Answer in Compagnon.",
    speed: "Speed: {speed}",
    speedUnit: "KB/s",
  },
});

/** The mark of a step's state (text, so that it reads without any style sheet). */
export const STEP_MARKS = Object.freeze({
  succeeded: "✓", failed: "✗", cancelled: "✗", running: "▸", "waiting-user": "⏳", pending: "○", skipped: "–",
});

const ENDED = ["succeeded", "failed", "cancelled", "interrupted"];

function element(tag, props = {}, ...children) {
  const el = Object.assign(document.createElement(tag), props);
  el.append(...children);
  return el;
}

export class JobView {
  /**
   * @param {HTMLElement} container where the view draws (its `id` prefixes the view's ids)
   * @param {object} [options]
   * @param {{cancelJob(id: string): Promise<unknown>, locale?: string}} [options.client] the page's
   *   CompagnonClient: "Annuler" calls `client.cancelJob(id)`; its `locale` is the view's by default
   * @param {(job: object) => unknown} [options.cancel] what "Annuler" does instead (e.g. the console's API)
   * @param {string | (() => string)} [options.locale] "fr" or "en", or a function read at each drawing
   * @param {(key: string, fields: object) => string | undefined} [options.translate] the page's own
   *   text for a key of JOB_VIEW_TEXTS (undefined: the view's)
   * @param {boolean} [options.showError] show a failed job's error message in the view (default:
   *   no, the page says it as its verdict)
   */
  constructor(container, { client = null, cancel = null, locale = null, translate = null, showError = false } = {}) {
    const id = container.id;
    this.container = container;
    this.client = client;
    this.options = { cancel, locale, translate, showError };
    this.job = null;
    this.noted = null;
    this.current = element("p", { id: `${id}-current`, className: "job-current" });
    this.waiting = element("p", { id: `${id}-waiting`, className: "job-waiting", hidden: true });
    this.waiting.setAttribute("role", "status");
    this.steps = element("ol", { id: `${id}-steps`, className: "job-steps" });
    this.bar = element("progress", { max: 100, value: 0 });
    this.percent = element("span", { className: "job-percent", textContent: "0 %" });
    this.progress = element("div", { id: `${id}-progress`, className: "job-progress" }, this.bar, " ", this.percent);
    this.speed = element("p", { id: `${id}-speed`, className: "job-speed note", hidden: true });
    this.message = element("p", { id: `${id}-message`, className: "job-message" });
    this.error = element("p", { id: `${id}-error`, className: "job-error error", hidden: true });
    this.cancel = element("button", { id: `${id}-cancel`, className: "job-cancel", type: "button", hidden: true });
    this.cancel.addEventListener("click", () => {
      if (!this.job) return;
      const job = this.job;
      const asked = this.options.cancel ? this.options.cancel(job) : this.client && this.client.cancelJob(job.id);
      Promise.resolve(asked).catch(() => {});
    });
    container.replaceChildren(this.current, this.waiting, this.steps, this.progress, this.speed, this.message,
      this.error, this.cancel);
    container.hidden = true;
  }

  /** The language the view writes in now: "fr" or "en". */
  get locale() {
    const { locale } = this.options;
    const value = typeof locale === "function" ? locale() : locale || (this.client && this.client.locale);
    return value === "en" ? "en" : "fr";
  }

  /** A text of the view in its language, with its `{fields}` filled in. */
  t(key, fields = {}) {
    const own = this.options.translate ? this.options.translate(key, fields) : undefined;
    if (typeof own === "string") return own;
    return JOB_VIEW_TEXTS[this.locale][key].replace(/\{(\w+)\}/g, (_, name) => `${fields[name] ?? ""}`);
  }

  /** Show `text` (e.g. the files being handed to the agent) before the job starts. */
  note(text) {
    this.job = null;
    this.noted = text;
    this.container.hidden = false;
    this.container.dataset.state = "preparing";
    this.steps.replaceChildren();
    this.bar.value = 0;
    this.percent.textContent = "0 %";
    for (const el of [this.speed, this.waiting, this.error, this.cancel]) {
      el.hidden = true;
      el.textContent = "";
    }
    this.current.textContent = text;
    this.message.textContent = "";
  }

  /** Draw a job snapshot (the `onUpdate` of `client.runJob`, a `jobs.updated`, a console's list). */
  update(job) {
    this.job = job;
    this.noted = null;
    const ended = ENDED.includes(job.state);
    const running = job.steps.find((s) => s.state === "running");
    const waiting = !ended && running !== undefined && running.id === "consent";
    this.container.hidden = false;
    this.container.dataset.state = waiting ? "waiting-user" : job.state;
    this.bar.value = job.progress;
    this.percent.textContent = `${job.progress} %`;
    this.steps.replaceChildren(...job.steps.map((step) => {
      const state = waiting && step === running ? "waiting-user" : step.state;
      const li = element("li", {}, element("span", { className: "mark", textContent: STEP_MARKS[state] ?? "○" }), " ",
        element("span", { className: "step-label", textContent: step.label }));
      li.dataset.state = state;
      li.dataset.step = step.id;
      if (state === "running") li.append(element("span", { className: "step-percent", textContent: ` ${step.progress} %` }));
      return li;
    }));
    // The item being worked on, only while the job works on it.
    const current = job.current;
    this.current.textContent = !ended && !waiting && current && current.total
      ? this.t("itemOf", { label: current.label, i: current.index, n: current.total }) : "";
    // Waiting for the user: said apart; the message gives the agent's words on where (its window,
    // console or terminal), or why it asks again.
    this.waiting.hidden = !waiting;
    this.waiting.textContent = waiting ? this.t("waitingYou") : "";
    const moving = typeof job.speed === "number" && job.speed > 0 && job.state === "running";
    this.speed.hidden = !moving;
    this.speed.textContent = moving ? this.t("speed", { speed: this.formatSpeed(job.speed) }) : "";
    // A failed job's error: shown once, here with `showError`, else by the page as its verdict.
    const error = job.error && job.error.message;
    const showError = Boolean(error) && this.options.showError;
    this.error.hidden = !showError;
    this.error.textContent = showError ? error : "";
    if (showError) this.error.dataset.code = job.error.code; else delete this.error.dataset.code;
    this.message.textContent = job.message && job.message !== error ? job.message
      : waiting ? this.t("waitingPlace") : "";
    this.cancel.hidden = ended;
    this.cancel.textContent = this.t("cancel");
  }

  /** Draw again in the current language (after the page switched it). */
  refresh() {
    if (this.job) this.update(this.job);
    else if (this.noted !== null) this.note(this.noted);
  }

  /** A speed in bytes per second, in kilobytes per second as the view's language writes numbers. */
  formatSpeed(bytesPerSecond) {
    const number = (bytesPerSecond / 1024).toLocaleString(this.locale === "en" ? "en-GB" : "fr-FR",
      { maximumFractionDigits: 1 });
    return `${number} ${this.t("speedUnit")}`;
  }
}
