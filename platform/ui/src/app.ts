// Weir's dashboard: a page of the job server (`weir serve`) that signs in
// with the API token once, then reads the REST API with a session cookie
// (and its CSRF token on every request that changes something).

import { drawGraph, fmtRate, fmtSeconds, GraphEdge, GraphOp, syntheticGraph } from "./graph";
import { lineChart, type Point } from "./chart";

let csrf = "";
const main = document.getElementById("main")!;
const nav = document.getElementById("nav")!;
let timer = 0;

class HTTPError extends Error {
  constructor(public status: number, message: string) {
    super(message);
  }
}

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-Weir-CSRF"] = csrf;
  const resp = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  if (resp.status === 401 && path !== "/api/v1/session") {
    showSignIn("Your session has ended: sign in again.");
    throw new HTTPError(401, "signed out");
  }
  const text = await resp.text();
  if (!resp.ok) {
    let msg = text;
    try {
      msg = JSON.parse(text).error || text;
    } catch { /* not JSON */ }
    throw new HTTPError(resp.status, msg);
  }
  if (resp.headers.get("Content-Type")?.startsWith("application/json")) return JSON.parse(text) as T;
  return text as unknown as T;
}

function h(tag: string, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElement {
  const e = document.createElement(tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  for (const c of children) e.append(c);
  return e;
}

function table(id: string, head: string[], rows: (Node | string)[][], empty: string): HTMLElement {
  if (!rows.length) return h("p", { class: "muted", id }, empty);
  return h("table", { id }, h("thead", {}, h("tr", {}, ...head.map((c) => h("th", {}, c)))),
    h("tbody", {}, ...rows.map((r) => h("tr", {}, ...r.map((c) => h("td", {}, c))))));
}

function fmtBytes(n: number): string {
  if (n >= 1 << 30) return (n / (1 << 30)).toFixed(1) + " GiB";
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MiB";
  if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + " KiB";
  return n + " B";
}

function fmtTime(t: string): string {
  return new Date(t).toLocaleTimeString();
}

function showSignIn(message = ""): void {
  clearInterval(timer);
  nav.replaceChildren();
  const input = h("input", { id: "token", type: "password", autocomplete: "current-password", placeholder: "API token", size: "70" }) as HTMLInputElement;
  const err = h("p", { class: "error", id: "signin-error" }, message);
  const form = h("form", { id: "signin-form" }, h("h1", {}, "Sign in"),
    h("p", {}, "Paste the API token (the file token in the server's data directory). It is sent once; the browser then holds a session cookie."),
    input, " ", h("button", { id: "signin", type: "submit" }, "Sign in"), err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const r = await api<{ csrf: string }>("POST", "/api/v1/session", { token: input.value });
      csrf = r.csrf;
      input.value = "";
      route();
    } catch (e) {
      err.textContent = (e as Error).message;
    }
  });
  main.replaceChildren(form);
  input.focus();
}

function signedInNav(): void {
  const out = h("button", { id: "signout" }, "Sign out");
  out.addEventListener("click", async () => {
    await api("DELETE", "/api/v1/session").catch(() => undefined);
    csrf = "";
    showSignIn("Signed out.");
  });
  nav.replaceChildren(h("a", { href: "#/" }, "Jobs"), " ", out);
}

interface Job {
  id: string;
  name?: string;
  state: string;
  submitted: string;
  parallelism: number;
  restarts: number;
  last_error?: string;
  pid?: number;
  savepoint?: string;
  checkpoints?: { count: number; savepoints?: { id: number; path: string; completed: string }[] };
}

interface Alert {
  name?: string;
  rule?: string;
  job_id?: string;
  state?: string;
  value?: number;
  since?: string;
  opened?: string;
  message?: string;
}

// alertsPanel shows the server's alerts (of one job when id is given); a
// server without alerting answers 404, and the panel stays empty.
async function alertsPanel(id?: string): Promise<HTMLElement> {
  let alerts: Alert[] = [];
  let note = "No alerts.";
  try {
    const r = await api<Alert[] | { alerts: Alert[] }>("GET", "/api/v1/alerts");
    alerts = Array.isArray(r) ? r : r.alerts || [];
  } catch (e) {
    if (e instanceof HTTPError && e.status === 404) note = "No alerts (alerting is not configured on this server).";
    else throw e;
  }
  if (id) alerts = alerts.filter((a) => !a.job_id || a.job_id === id);
  return h("section", {}, h("h2", {}, "Alerts"), table("alerts", ["alert", "job", "state", "value", "since", "message"],
    alerts.map((a) => [a.name || a.rule || "", a.job_id || "", a.state || "", a.value === undefined ? "" : String(a.value),
      a.since || a.opened ? fmtTime((a.since || a.opened)!) : "", a.message || ""]), note));
}

async function jobsView(): Promise<void> {
  const [list, stats] = await Promise.all([api<{ jobs: Job[] }>("GET", "/api/v1/jobs"),
    api<{ jobs: Record<string, { records_per_second: number; lag_seconds: number }> }>("GET", "/api/v1/stats")]);
  const rows = list.jobs.map((j) => {
    const s = stats.jobs[j.id];
    return [h("a", { href: "#/jobs/" + j.id }, j.id), j.name || "", h("span", { class: "state " + j.state }, j.state),
      s ? fmtRate(s.records_per_second) : "", s ? fmtSeconds(s.lag_seconds) : "", String(j.parallelism), String(j.restarts), j.last_error || ""];
  });
  const alerts = await alertsPanel();
  main.replaceChildren(h("h1", {}, "Jobs"),
    table("jobs", ["job", "name", "state", "records/s", "lag", "parallelism", "restarts", "last error"], rows,
      "No jobs: submit one with weir jobs submit."), alerts);
}

interface History {
  interval_seconds: number;
  samples: {
    t: string; records_per_second: number; lag_seconds: number; checkpoint_seconds: number; checkpoint_bytes: number;
    consumer_lag_records?: number;
    // The ranges the server's learned-normal alert rules expected, by field.
    expected?: Record<string, { expected_low: number; expected_high: number }>;
  }[];
  checkpoints: { id: number; savepoint: boolean; path?: string; time: string; duration_seconds: number; bytes: number; error?: string }[];
}

interface DeadLetters {
  dir?: string;
  letters: { time: string; operator: string; subtask: number; error: string; record?: unknown; file: string }[];
}

// routeExists tells a route the server has (a GET of a POST route
// answers 405) from one it lacks (404).
const known = new Map<string, boolean>();
async function routeExists(path: string): Promise<boolean> {
  const key = path.replace(/\/jobs\/[^/]+/, "/jobs/{id}");
  if (known.has(key)) return known.get(key)!;
  const resp = await fetch(path, { credentials: "same-origin" });
  known.set(key, resp.status !== 404);
  return known.get(key)!;
}

function button(id: string, label: string, title: string, action: () => Promise<void>, enabled = true): HTMLElement {
  const b = h("button", { id, title }, label) as HTMLButtonElement;
  b.disabled = !enabled;
  b.addEventListener("click", async () => {
    b.disabled = true;
    paused++;
    const status = document.getElementById("action-status")!;
    status.textContent = label + "…";
    try {
      await action();
      status.textContent = label + ": done";
    } catch (e) {
      status.textContent = label + " failed: " + (e as Error).message;
    } finally {
      b.disabled = false;
      paused--;
      const msg = status.textContent;
      await refresh();
      const again = document.getElementById("action-status");
      if (again) again.textContent = msg;
    }
  });
  return b;
}

async function jobView(id: string): Promise<void> {
  const base = "/api/v1/jobs/" + id;
  const [job, graph, hist, dead, log, canRescale, canRewind] = await Promise.all([
    api<Job>("GET", base), api<{ running: boolean; operators: GraphOp[]; edges: GraphEdge[] }>("GET", base + "/graph"),
    api<History>("GET", base + "/history"), api<DeadLetters>("GET", base + "/deadletters"), api<string>("GET", base + "/log"),
    routeExists(base + "/rescale"), routeExists(base + "/rewind")]);
  const alerts = await alertsPanel(id);
  const missing = "This server has no such route yet.";
  const actions = h("div", { class: "actions" },
    button("savepoint", "Savepoint", "Take a savepoint; the job goes on", async () => { await api("POST", base + "/savepoint"); }),
    button("stop", "Stop", "Stop the job with a savepoint", async () => {
      if (confirm("Stop job " + id + " with a savepoint?")) await api("POST", base + "/stop");
    }),
    button("rescale", "Rescale", canRescale ? "Savepoint, then restart at a new parallelism" : missing, async () => {
      const p = prompt("New parallelism", String(job.parallelism));
      if (p) await api("POST", base + "/rescale", { parallelism: parseInt(p, 10) });
    }, canRescale),
    button("rewind", "Rewind", canRewind ? "Restore a retained checkpoint chosen by time and restate the outputs" : missing, async () => {
      const to = prompt("Rewind to (a time such as 2024-05-01T10:00:00Z, or a duration ago such as 1h)");
      if (to) await api("POST", base + "/rewind", { to });
    }, canRewind),
    button("cancel", "Cancel", "Cancel the job: its process is killed", async () => {
      if (confirm("Cancel job " + id + "?")) await api("POST", base + "/cancel");
    }),
    h("span", { id: "action-status", class: "muted" }, ""));

  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.id = "graph";
  if (graph.operators.length) drawGraph(svg, graph.operators, graph.edges);
  const graphBox = h("div", { class: "graph" }, graph.operators.length ? svg : h("p", { class: "muted" }, "No graph yet: the job's process has not been sampled."));

  const now = Date.now();
  type S = History["samples"][0];
  const pts = (f: (s: S) => number, field?: string) =>
    hist.samples.map((s) => [Date.parse(s.t), f(s), field ? s.expected?.[field] : undefined] as Point);
  const charts = h("div", { class: "charts" },
    lineChart("chart-throughput", "Throughput (records/s read)", pts((s) => s.records_per_second, "records_per_second"), now, fmtRate),
    lineChart("chart-lag", "Watermark lag", pts((s) => s.lag_seconds, "lag_seconds"), now, fmtSeconds),
    lineChart("chart-checkpoint", "Checkpoint duration", pts((s) => s.checkpoint_seconds), now, fmtSeconds));
  if (hist.samples.some((s) => s.consumer_lag_records)) {
    charts.appendChild(lineChart("chart-consumer-lag", "Consumer lag (records)", pts((s) => s.consumer_lag_records || 0, "consumer_lag_records"), now,
      (v) => v.toFixed(0)));
  }

  const ckRows = hist.checkpoints.slice().reverse().map((c) => [String(c.id), c.savepoint ? "savepoint" : "checkpoint", fmtTime(c.time),
    fmtSeconds(c.duration_seconds), c.error ? "" : fmtBytes(c.bytes), c.error || c.path || ""]);
  const spRows = (job.checkpoints?.savepoints || []).slice().reverse().map((s) => [String(s.id), fmtTime(s.completed), s.path]);
  const deadRows = dead.letters.map((l) => [fmtTime(l.time), l.operator + "/" + l.subtask, l.error,
    h("code", {}, l.record === undefined ? "" : JSON.stringify(l.record).slice(0, 200))]);

  main.replaceChildren(
    h("h1", {}, "Job " + id + (job.name ? " — " + job.name : "")),
    h("p", {}, h("span", { class: "state " + job.state, id: "job-state" }, job.state), ` parallelism ${job.parallelism}, restarts ${job.restarts}`,
      job.last_error ? h("span", { class: "error" }, " — " + job.last_error) : ""),
    actions,
    h("section", {}, h("h2", {}, "Graph"), graphBox),
    h("section", {}, h("h2", {}, "Last hour"), charts),
    h("section", {}, h("h2", {}, "Checkpoints"), table("checkpoints", ["id", "kind", "completed", "duration", "size", "path or error"], ckRows, "No checkpoint yet in this process.")),
    h("section", {}, h("h2", {}, "Savepoints"), table("savepoints", ["id", "completed", "path"], spRows, "No savepoint.")),
    alerts,
    h("section", {}, h("h2", {}, "Dead letters"), dead.dir ? table("deadletters", ["time", "operator", "error", "record"], deadRows, "No dead letters in " + dead.dir + ".")
      : h("p", { class: "muted", id: "deadletters" }, "The pipeline has no dead-letter output.")),
    h("section", {}, h("h2", {}, "Log"), h("pre", { id: "log" }, log.split("\n").slice(-200).join("\n"))),
  );
  // A graph wider than the page is drawn smaller, down to 60 %, and
  // scrolls beyond that.
  const w = parseFloat(svg.getAttribute("width") || "0");
  if (w > graphBox.clientWidth) {
    const scale = Math.max(graphBox.clientWidth / w, 0.6);
    svg.style.width = w * scale + "px";
    svg.style.height = parseFloat(svg.getAttribute("height") || "0") * scale + "px";
  }
}

// benchView draws a synthetic graph of n operators and records how long
// the layout and the drawing took (body's data-render-ms), for the
// render benchmark.
function benchView(n: number): void {
  const { ops, edges } = syntheticGraph(n);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.id = "graph";
  main.replaceChildren(h("div", { class: "graph" }, svg));
  const t0 = performance.now();
  drawGraph(svg, ops, edges);
  svg.getBoundingClientRect(); // force style and layout
  const t1 = performance.now();
  document.body.dataset.renderMs = (t1 - t0).toFixed(3);
}

let busy = false;
let paused = 0; // actions in progress: the page is not redrawn under them
async function refresh(): Promise<void> {
  if (busy || paused > 0 || !csrf) return;
  busy = true;
  const hash = location.hash;
  try {
    const m = /^#\/jobs\/(j[0-9a-f]{12})$/.exec(hash);
    if (m) await jobView(m[1]);
    else await jobsView();
  } catch (e) {
    if (!(e instanceof HTTPError && e.status === 401)) main.prepend(h("p", { class: "error" }, (e as Error).message));
  } finally {
    busy = false;
  }
}

async function route(): Promise<void> {
  clearInterval(timer);
  const b = /^#\/bench\/graph\/(\d+)$/.exec(location.hash);
  if (b) return benchView(parseInt(b[1], 10));
  if (!csrf) {
    try {
      csrf = (await api<{ csrf: string }>("GET", "/api/v1/session")).csrf;
    } catch {
      return showSignIn();
    }
  }
  signedInNav();
  await refresh();
  timer = window.setInterval(() => {
    if (!document.hidden && !document.querySelector("dialog[open]")) refresh();
  }, 2000);
}

window.addEventListener("hashchange", route);
route();
