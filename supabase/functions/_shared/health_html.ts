// The operator page of health-check (?format=html): the same facts as the JSON report, readable at
// a glance (status colours, tables), with a manual-sync button. Pure: report in, HTML out. No
// external assets: inline CSS and one inline script, both allowed by a per-response nonce in the
// Content-Security-Policy that healthPageHeaders() builds.
//
// The button never sees a secret it did not bring: it POSTs `?action=sync` to health-check
// itself with the monitoring token the operator opened the page with (from the page URL's
// `token`, or typed into the field the page shows when there is none); health-check then calls
// queue-processor-v2 server side with the processor secret. It shows the run id and polls
// `?run=<id>&format=json` until the run finishes.
import type {
  CronJobHealth,
  HealthAlert,
  HealthReport,
  HealthStatus,
  ProviderHealth,
  QuotaWindow,
  SyncRun,
} from "./health.ts";

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value ?? "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** Seconds as a short human duration: 850 ms, 42 s, 3 min 20 s, 5 h 10 min, 2 d 4 h. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, seconds);
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${Math.round(s * 10) / 10} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** Bytes in decimal units (as FMP counts its bandwidth): 512 B, 1.5 kB, 20.3 MB. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "–";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** A ratio as a percentage with one decimal, or – when unknown. */
export function formatPercent(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return "–";
  return `${Math.round(ratio * 1000) / 10} %`;
}

/** A timestamp as "<duration> ago" relative to `now` (ISO strings), with the exact time as title. */
function ago(at: string | null | undefined, now: number): string {
  if (!at) return `<span class="muted">never</span>`;
  const seconds = (now - Date.parse(at)) / 1000;
  const text = seconds >= 0 ? `${formatDuration(seconds)} ago` : `in ${formatDuration(-seconds)}`;
  return `<time datetime="${escapeHtml(at)}" title="${escapeHtml(at)}">${escapeHtml(text)}</time>`;
}

type Tone = "ok" | "warn" | "bad" | "info" | "muted";

function pill(text: string, tone: Tone, attrs = ""): string {
  return `<span class="pill ${tone}"${attrs}>${escapeHtml(text)}</span>`;
}

const statusTone: Record<HealthStatus, Tone> = { ok: "ok", degraded: "warn", down: "bad" };

function runTone(status: string): Tone {
  if (status === "succeeded") return "ok";
  if (status === "partial") return "warn";
  if (status === "failed") return "bad";
  return "info";
}

function providerStateTone(state: string): Tone {
  if (state === "ok") return "ok";
  if (state === "invalid_key") return "bad";
  return "warn";
}

function circuitTone(state: string): Tone {
  if (state === "closed") return "ok";
  if (state === "half_open") return "warn";
  return "bad";
}

function ratioTone(ratio: number | null): Tone {
  if (ratio === null) return "muted";
  if (ratio >= 1) return "bad";
  if (ratio >= 0.9) return "warn";
  return "ok";
}

function card(label: string, value: string, id: string, tone: Tone = "muted", sub = ""): string {
  return `<div class="card ${tone}"><div class="label">${escapeHtml(label)}</div>` +
    `<div class="value" id="${escapeHtml(id)}">${value}</div>` +
    (sub ? `<div class="sub">${escapeHtml(sub)}</div>` : "") + `</div>`;
}

function detailText(detail: Record<string, unknown> | null | undefined): string {
  if (!detail) return "";
  return Object.entries(detail)
    .filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
    .join(", ");
}

function alertsSection(report: HealthReport, now: number): string {
  const alerts = report.alerts;
  const active = alerts?.active ?? [];
  const rows = active.map((a: HealthAlert) =>
    `<tr data-rule="${escapeHtml(a.rule)}" data-subject="${escapeHtml(a.subject)}">` +
    `<td>${pill(a.severity, a.severity === "critical" ? "bad" : "warn")}</td>` +
    `<td><code>${escapeHtml(a.rule)}</code></td><td>${escapeHtml(a.subject || "–")}</td>` +
    `<td>${ago(a.raised_at, now)}</td><td class="detail">${
      escapeHtml(detailText(a.detail))
    }</td></tr>`
  ).join("");
  const cleared = (alerts?.recently_cleared ?? []).map((a: HealthAlert) =>
    `<tr><td><code>${escapeHtml(a.rule)}</code></td><td>${escapeHtml(a.subject || "–")}</td>` +
    `<td>${ago(a.raised_at, now)}</td><td>${ago(a.cleared_at, now)}</td></tr>`
  ).join("");
  const notPersisted = alerts && !alerts.persisted
    ? `<p class="note bad">Alerts could not be recorded: ${escapeHtml(alerts.error ?? "")}</p>`
    : "";
  return `<section id="alerts"><h2>Alerts <span class="count">${active.length}</span></h2>` +
    notPersisted +
    (active.length === 0
      ? `<p class="allclear">${pill("no active alerts", "ok")}</p>`
      : `<table><thead><tr><th>Severity</th><th>Rule</th><th>Subject</th><th>Raised</th>` +
        `<th>Now</th></tr></thead><tbody>${rows}</tbody></table>`) +
    (cleared
      ? `<details><summary>Cleared in the last 24 h</summary><table><thead><tr><th>Rule</th>` +
        `<th>Subject</th><th>Raised</th><th>Cleared</th></tr></thead><tbody>${cleared}</tbody>` +
        `</table></details>`
      : "") +
    `</section>`;
}

function queueSection(report: HealthReport): string {
  const q = report.queue;
  if (!q) return "";
  const stuckTone: Tone = q.stuck_jobs > 0 ? "bad" : "ok";
  const waitTone: Tone = (q.oldest_due_wait_seconds ?? 0) > 600 ? "warn" : "ok";
  return `<section id="queue"><h2>Queue</h2><div class="cards">` +
    card("Pending", String(q.depth.pending), "queue-pending") +
    card("Due now", String(q.due), "queue-due") +
    card("Processing", String(q.depth.processing), "queue-processing") +
    card("Stuck (lease expired)", String(q.stuck_jobs), "queue-stuck", stuckTone) +
    card("Completed (kept)", String(q.depth.completed), "queue-completed") +
    card(
      "Failed (kept)",
      String(q.depth.failed),
      "queue-failed",
      q.depth.failed > 0 ? "warn" : "muted",
    ) +
    card(
      "Oldest due wait",
      escapeHtml(formatDuration(q.oldest_due_wait_seconds)),
      "queue-oldest-due",
      waitTone,
    ) +
    card(
      "Oldest pending",
      escapeHtml(formatDuration(q.oldest_pending_age_seconds)),
      "queue-oldest-pending",
    ) +
    `</div></section>`;
}

function windowCell(w: QuotaWindow | undefined): string {
  if (!w) return "<td>–</td>";
  const used = w.name === "bytes_per_30d" ? formatBytes(w.used) : String(w.used);
  if (w.limit === null) {
    return `<td>${escapeHtml(used)} <span class="muted">/ unlimited</span></td>`;
  }
  const limit = w.name === "bytes_per_30d" ? formatBytes(w.limit) : String(w.limit);
  const width = Math.min(100, Math.round((w.ratio ?? 0) * 100));
  return `<td><div class="meter ${
    ratioTone(w.ratio)
  }"><span style="width:${width}%"></span></div>` +
    `${escapeHtml(used)} / ${escapeHtml(limit)} <span class="muted">(${
      formatPercent(w.ratio)
    })</span></td>`;
}

function providersSection(report: HealthReport, now: number): string {
  const providers = report.providers ?? [];
  if (providers.length === 0) return "";
  const rows = providers.map((p: ProviderHealth) => {
    const win = (name: string) => p.windows.find((w) => w.name === name);
    const stateExtra = p.quota.state !== "ok"
      ? `<div class="muted small">${escapeHtml(p.quota.state_reason ?? "")} ${
        p.quota.state_until ? `until ${ago(p.quota.state_until, now)}` : ""
      }</div>`
      : "";
    const circuitExtra = p.circuit.state !== "closed"
      ? `<div class="muted small">${escapeHtml(p.circuit.reason ?? "")}${
        p.circuit.retry_at ? ` · retry ${ago(p.circuit.retry_at, now)}` : ""
      }</div>`
      : "";
    return `<tr data-provider="${escapeHtml(p.provider)}"><td><strong>${
      escapeHtml(p.provider)
    }</strong>` +
      `<div class="muted small">${p.enabled_data_types} enabled data types</div></td>` +
      `<td>${pill(p.quota.state, providerStateTone(p.quota.state))}${stateExtra}</td>` +
      `<td>${pill(p.circuit.state, circuitTone(p.circuit.state))}${circuitExtra}</td>` +
      windowCell(win("calls_per_minute")) + windowCell(win("calls_per_day")) +
      windowCell(win("bytes_per_30d")) +
      `<td>${p.quota.exceeded ? pill("exhausted", "bad") : pill("available", "ok")}</td></tr>`;
  }).join("");
  return `<section id="providers"><h2>Providers, quota and circuit</h2><table><thead><tr>` +
    `<th>Provider</th><th>State</th><th>Circuit</th><th>Calls / minute</th><th>Calls / day</th>` +
    `<th>Bytes / 30 days</th><th>Claims</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}

function runRow(run: SyncRun, now: number): string {
  return `<tr data-run-id="${run.id}"><td>#${run.id}</td><td>${escapeHtml(run.trigger)}</td>` +
    `<td>${pill(run.status, runTone(run.status))}</td><td>${ago(run.started_at, now)}</td>` +
    `<td>${escapeHtml(formatDuration(run.duration_seconds))}</td>` +
    `<td class="num">${run.claimed}</td><td class="num">${run.succeeded}</td>` +
    `<td class="num">${run.failed}</td><td class="num">${run.retried}</td>` +
    `<td class="num">${run.calls}</td><td>${escapeHtml(formatBytes(run.bytes))}</td>` +
    `<td class="detail">${escapeHtml(run.error ?? "")}</td></tr>`;
}

function processorSection(report: HealthReport, now: number): string {
  const p = report.processor;
  if (!p) return "";
  const rateTone = (rate: number | null): Tone =>
    rate === null ? "muted" : rate >= 0.9 ? "ok" : rate >= 0.5 ? "warn" : "bad";
  const statsCards = ([["last hour", p.stats_1h, "1h"], ["last 24 h", p.stats_24h, "24h"]] as const)
    .map(([label, s, key]) =>
      card(
        `Runs, ${label}`,
        String(s.runs),
        `processor-runs-${key}`,
        s.failed > 0 ? "warn" : "muted",
        `${s.succeeded} ok · ${s.partial} partial · ${s.failed} failed · ${s.running} running`,
      ) +
      card(
        `Success rate, ${label}`,
        formatPercent(s.success_rate),
        `processor-rate-${key}`,
        rateTone(s.success_rate),
      ) +
      card(
        `Mean duration, ${label}`,
        escapeHtml(formatDuration(s.mean_duration_seconds)),
        `processor-mean-${key}`,
        "muted",
        `${s.jobs.succeeded} jobs ok · ${s.jobs.failed} failed · ${s.calls} calls`,
      )
    ).join("");
  const runs = p.last_runs.map((run) => runRow(run, now)).join("");
  return `<section id="processor"><h2>Processor</h2><div class="cards">` +
    card("Live runs", `${p.live_leases} / ${p.max_runs}`, "processor-live") + statsCards +
    card("Jobs completed, all time", String(p.totals.jobs.succeeded), "processor-jobs-completed") +
    card("Upstream calls, all time", String(p.totals.calls), "processor-calls") +
    `</div>` +
    `<div class="sync"><button type="button" id="manual-sync">Run manual sync</button>` +
    `<input type="password" id="sync-token" placeholder="monitoring token" autocomplete="off" hidden>` +
    `<output id="sync-status" class="muted">Processes what is due now, as cron would.</output></div>` +
    `<h3>Recent sync runs</h3>` +
    (runs
      ? `<table id="recent-runs"><thead><tr><th>Run</th><th>Trigger</th><th>Status</th><th>Started</th>` +
        `<th>Duration</th><th>Claimed</th><th>OK</th><th>Failed</th><th>Retried</th><th>Calls</th>` +
        `<th>Bytes</th><th>Error</th></tr></thead><tbody>${runs}</tbody></table>`
      : `<p class="muted" id="recent-runs">No sync runs yet.</p>`) +
    `</section>`;
}

function cronRow(job: CronJobHealth, now: number): string {
  const health = job.failing
    ? pill("failing", "bad")
    : job.late
    ? pill("late", "bad")
    : !job.active
    ? pill("inactive", "muted")
    : job.last_status === null
    ? pill("not run yet", "muted")
    : pill("ok", "ok");
  const name = job.name ?? String(job.jobid);
  return `<tr data-job="${escapeHtml(name)}"><td><strong>${escapeHtml(name)}</strong></td>` +
    `<td><code>${escapeHtml(job.schedule)}</code></td><td>${health}</td>` +
    `<td>${ago(job.last_started_at, now)}</td><td>${escapeHtml(job.last_status ?? "–")}</td>` +
    `<td class="detail">${escapeHtml(job.last_message ?? "")}</td></tr>`;
}

function cronSection(report: HealthReport, now: number): string {
  const rows = report.cron_jobs.map((job) => cronRow(job, now)).join("");
  return `<section id="cron"><h2>Cron jobs</h2>` +
    (rows
      ? `<table><thead><tr><th>Job</th><th>Schedule</th><th>Health</th><th>Last start</th>` +
        `<th>Last status</th><th>Message</th></tr></thead><tbody>${rows}</tbody></table>`
      : `<p class="muted">No pg_cron jobs.</p>`) +
    `</section>`;
}

const scalar = (v: unknown) => typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);

/** Version, age and state of the vocabulary snapshot first, every other field folded away. */
function vocabularySection(vocabulary: Record<string, unknown> | null | undefined): string {
  if (!vocabulary) return `<p class="muted">Not installed.</p>`;
  if (typeof vocabulary.error === "string") {
    return `<p class="note bad">${escapeHtml(vocabulary.error)}</p>`;
  }
  const known = new Set(["version", "age_seconds", "dirty", "stale"]);
  const flags = [
    vocabulary.dirty === true
      ? pill("dirty", "bad")
      : vocabulary.dirty === false
      ? pill("clean", "ok")
      : "",
    vocabulary.stale === true
      ? pill("stale", "warn")
      : vocabulary.stale === false
      ? pill("fresh", "ok")
      : "",
  ].filter(Boolean).join(" ");
  const rest = Object.entries(vocabulary).filter(([k]) => !known.has(k)).map(([k, v]) =>
    `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v === null ? "–" : scalar(v))}</dd>`
  ).join("");
  const age = typeof vocabulary.age_seconds === "number" ? vocabulary.age_seconds : null;
  return `<dl><dt>Version</dt><dd id="vocabulary-version">${
    escapeHtml(scalar(vocabulary.version ?? "–"))
  }</dd>` +
    `<dt>Age</dt><dd>${escapeHtml(formatDuration(age))}</dd>` +
    (flags ? `<dt>Snapshot</dt><dd>${flags}</dd>` : "") + `</dl>` +
    (rest ? `<details><summary>Details</summary><dl>${rest}</dl></details>` : "");
}

function systemSection(report: HealthReport): string {
  const db = report.database;
  const flags = Object.entries(report.feature_flags ?? {}).map(([name, on]) =>
    `<li>${pill(on ? "on" : "off", on ? "ok" : "warn")} <code>${escapeHtml(name)}</code></li>`
  ).join("");
  const vocabularyHtml = vocabularySection(report.vocabulary);
  return `<section id="system" class="columns">` +
    `<div><h2>Database</h2><dl>` +
    `<dt>Server</dt><dd>${escapeHtml(db.server_version ?? "–")}</dd>` +
    `<dt>Size</dt><dd>${escapeHtml(formatBytes(db.size_bytes))}</dd>` +
    `<dt>Connections</dt><dd>${escapeHtml(db.connections ?? "–")} / ${
      escapeHtml(db.max_connections ?? "–")
    }</dd>` +
    `<dt>Latest migration</dt><dd><code>${
      escapeHtml(report.latest_migration?.version ?? "–")
    }</code> ` +
    `${escapeHtml(report.latest_migration?.name ?? "")}</dd></dl></div>` +
    `<div><h2>Feature flags</h2><ul class="flags">${
      flags || '<li class="muted">none</li>'
    }</ul></div>` +
    `<div id="vocabulary"><h2>Vocabulary</h2>${vocabularyHtml}</div>` +
    `</section>`;
}

const STYLE = `
:root{color-scheme:light dark;--bg:#f6f8fa;--fg:#1f2328;--muted:#656d76;--card:#fff;--line:#d0d7de;
--ok:#1a7f37;--ok-bg:#dafbe1;--warn:#9a6700;--warn-bg:#fff8c5;--bad:#cf222e;--bad-bg:#ffebe9;--info:#0969da;--info-bg:#ddf4ff}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#8d96a0;--card:#161b22;--line:#30363d;
--ok:#3fb950;--ok-bg:#12261e;--warn:#d29922;--warn-bg:#272115;--bad:#f85149;--bad-bg:#301a1f;--info:#58a6ff;--info-bg:#121d2f}}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header{display:flex;flex-wrap:wrap;align-items:center;gap:12px 20px;padding:16px 24px;border-bottom:4px solid var(--line);background:var(--card)}
header.ok{border-color:var(--ok)}header.warn{border-color:var(--warn)}header.bad{border-color:var(--bad)}
header h1{margin:0;font-size:20px}header .meta{color:var(--muted);font-size:13px}
#overall-status{font-size:16px;padding:4px 14px;text-transform:uppercase;letter-spacing:.04em}
main{padding:8px 24px 32px;max-width:1400px}
h2{font-size:16px;margin:22px 0 8px}h3{font-size:14px;margin:18px 0 6px}
.count{display:inline-block;min-width:22px;padding:0 6px;border-radius:10px;background:var(--line);font-size:12px;text-align:center}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:6px;overflow:hidden}
th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-size:12px;color:var(--muted);font-weight:600;background:var(--bg)}
tr:last-child td{border-bottom:0}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.detail{color:var(--muted);font-size:12px;max-width:420px;overflow-wrap:anywhere}
.pill{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;white-space:nowrap;border:1px solid transparent}
.pill.ok{color:var(--ok);background:var(--ok-bg);border-color:var(--ok)}.pill.warn{color:var(--warn);background:var(--warn-bg);border-color:var(--warn)}
.pill.bad{color:var(--bad);background:var(--bad-bg);border-color:var(--bad)}.pill.info{color:var(--info);background:var(--info-bg);border-color:var(--info)}
.pill.muted{color:var(--muted);border-color:var(--line)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:10px}
.card{background:var(--card);border:1px solid var(--line);border-left:4px solid var(--line);border-radius:6px;padding:8px 12px}
.card.ok{border-left-color:var(--ok)}.card.warn{border-left-color:var(--warn)}.card.bad{border-left-color:var(--bad)}
.card .label{font-size:12px;color:var(--muted)}.card .sub{font-size:12px;color:var(--muted)}.card .value{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums}
.card.bad .value{color:var(--bad)}.card.warn .value{color:var(--warn)}
.meter{height:6px;border-radius:3px;background:var(--line);margin:3px 0;min-width:120px}.meter span{display:block;height:100%;border-radius:3px;background:var(--ok)}
.meter.warn span{background:var(--warn)}.meter.bad span{background:var(--bad)}
.muted{color:var(--muted)}.small{font-size:12px}code{font-size:12px}
.sync{display:flex;flex-wrap:wrap;align-items:center;gap:10px;margin:14px 0 4px}
button{font:inherit;font-weight:600;padding:6px 14px;border-radius:6px;border:1px solid var(--info);background:var(--info);color:#fff;cursor:pointer}
button.secondary{background:transparent;color:var(--info)}button:disabled{opacity:.6;cursor:progress}
input{font:inherit;padding:5px 8px;border-radius:6px;border:1px solid var(--line);background:var(--card);color:var(--fg)}
output.ok{color:var(--ok)}output.warn{color:var(--warn)}output.bad{color:var(--bad)}output.info{color:var(--info)}
.columns{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:0 24px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0}dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}
ul.flags{list-style:none;padding:0;margin:0}ul.flags li{margin:2px 0}
.note{padding:6px 10px;border-radius:6px}.note.bad{background:var(--bad-bg);color:var(--bad)}
details{margin-top:8px}summary{cursor:pointer;color:var(--muted)}
`;

// The manual-sync button and reload: runs in the browser (no secret in the page).
const SCRIPT = `
(() => {
  const body = document.body;
  const base = location.protocol === "http:" || location.protocol === "https:"
    ? location.origin + location.pathname : body.dataset.endpoint;
  const fromUrl = new URLSearchParams(location.search).get("token");
  const button = document.getElementById("manual-sync");
  const tokenInput = document.getElementById("sync-token");
  const out = document.getElementById("sync-status");
  if (!button || !out) return;
  if (!fromUrl && tokenInput) tokenInput.hidden = false;
  const show = (text, tone, run) => {
    out.textContent = text;
    out.className = tone;
    if (run) { out.dataset.runId = String(run.id); out.dataset.runStatus = run.status; }
  };
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const tones = { succeeded: "ok", partial: "warn", failed: "bad", running: "info" };
  const summary = (run) => "run #" + run.id + ": " + run.status + " (claimed " + run.claimed +
    ", succeeded " + run.succeeded + ", failed " + run.failed + ", retried " + run.retried + ")";
  button.addEventListener("click", async () => {
    const token = fromUrl || (tokenInput ? tokenInput.value.trim() : "");
    if (!token) { show("Enter the monitoring token first.", "bad"); return; }
    const headers = { authorization: "Bearer " + token };
    button.disabled = true;
    show("Starting a manual sync…", "info");
    try {
      const res = await fetch(base + "?action=sync", { method: "POST", headers });
      const started = await res.json().catch(() => ({}));
      if (!res.ok) { show("Could not start: " + (started.error || "HTTP " + res.status), "bad"); return; }
      if (!started.accepted || !started.run_id) {
        show("Not started: " + (started.reason || "the processor declined"), "warn");
        return;
      }
      let run = { id: started.run_id, status: "running", claimed: 0, succeeded: 0, failed: 0, retried: 0 };
      show(summary(run), "info", run);
      for (let i = 0; i < 300 && run.status === "running"; i++) {
        await sleep(i < 10 ? 500 : 2000);
        const poll = await fetch(base + "?run=" + run.id + "&format=json", { headers });
        if (!poll.ok) { show("run #" + run.id + ": status unavailable (HTTP " + poll.status + ")", "bad", run); return; }
        run = await poll.json();
        show(summary(run), tones[run.status] || "info", run);
      }
    } catch (error) {
      show("Could not start: " + error, "bad");
    } finally {
      button.disabled = false;
    }
  });
  const reload = document.getElementById("reload");
  if (reload) reload.addEventListener("click", () => location.reload());
})();
`;

export type HealthPageOptions = {
  /** Absolute URL of health-check, for a page opened from a saved file. */
  endpoint: string;
  /** Per-response CSP nonce for the inline style and script. */
  nonce: string;
};

function page(
  title: string,
  tone: Tone,
  options: HealthPageOptions & { script: boolean },
  content: string,
): string {
  const { nonce, endpoint } = options;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<meta name="referrer" content="no-referrer"><title>${escapeHtml(title)}</title>` +
    `<style nonce="${escapeHtml(nonce)}">${STYLE}</style></head>` +
    `<body data-endpoint="${escapeHtml(endpoint)}" class="${tone}">${content}` +
    (options.script ? `<script nonce="${escapeHtml(nonce)}">${SCRIPT}</script>` : "") +
    `</body></html>`;
}

/** The operator page for a report and its overall status. */
export function renderHealthPage(
  report: HealthReport,
  status: HealthStatus,
  options: HealthPageOptions,
): string {
  const now = Date.parse(report.generated_at ?? report.database.now ?? "") || Date.now();
  const tone = statusTone[status];
  const active = report.alerts?.active.length ?? 0;
  const header = `<header class="${tone}"><h1>keepfresh health</h1>` +
    pill(status, tone, ` id="overall-status"`) +
    `<span class="meta">${active} active alert${active === 1 ? "" : "s"} · generated ` +
    `<time datetime="${escapeHtml(report.generated_at ?? "")}">` +
    `${escapeHtml(report.generated_at ?? new Date(now).toISOString())}</time></span>` +
    `<button type="button" class="secondary" id="reload">Reload</button></header>`;
  const body = report.database.reachable
    ? alertsSection(report, now) + queueSection(report) + providersSection(report, now) +
      processorSection(report, now) + cronSection(report, now) + systemSection(report)
    : `<section><h2>Database unreachable</h2><p class="note bad">health-check could not read ` +
      `the database, so nothing else can be shown. Check the project status and connection limits.` +
      `</p></section>`;
  return page(
    `keepfresh health: ${status}`,
    tone,
    { ...options, script: true },
    `${header}<main>${body}</main>`,
  );
}

/** The page for a request without a valid monitoring token. */
export function renderUnauthorizedPage(options: HealthPageOptions): string {
  const content =
    `<header class="bad"><h1>keepfresh health</h1>${pill("unauthorized", "bad")}</header>` +
    `<main><p>This page needs the monitoring token: open it as ` +
    `<code>?format=html&amp;token=&lt;KEEPFRESH_MONITORING_TOKEN&gt;</code>.</p>` +
    `<p class="muted">See docs/operations.md for the trade-offs of a token in a URL.</p></main>`;
  return page("keepfresh health: unauthorized", "bad", { ...options, script: false }, content);
}

/** Headers for the page: no caching, no referrer (the URL may hold the token), strict CSP. */
export function healthPageHeaders(nonce: string): Record<string, string> {
  return {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "content-security-policy": [
      "default-src 'none'",
      `style-src 'nonce-${nonce}'`,
      `script-src 'nonce-${nonce}'`,
      "style-src-attr 'unsafe-inline'",
      "connect-src 'self'",
      "img-src data:",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join("; "),
  };
}
