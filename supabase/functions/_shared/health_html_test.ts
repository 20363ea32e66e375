import assert from "node:assert/strict";
import {
  escapeHtml,
  formatBytes,
  formatDuration,
  formatPercent,
  healthPageHeaders,
  renderHealthPage,
  renderUnauthorizedPage,
} from "./health_html.ts";
import { sampleReport } from "./health_sample.ts";

const options = { endpoint: "https://ref.supabase.co/functions/v1/health-check", nonce: "n0nce" };

/** Text content of the element with this id (no nested elements in the cards). */
function byId(html: string, id: string): string | undefined {
  const match = new RegExp(`id="${id}"[^>]*>([^<]*)<`).exec(html);
  return match?.[1];
}

Deno.test("health page - escapes text for element content and attributes", () => {
  assert.equal(
    escapeHtml(`<a href="x">'&'</a>`),
    "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;",
  );
  assert.equal(escapeHtml(null), "");
});

Deno.test("health page - durations, bytes and percentages read at a glance", () => {
  assert.equal(formatDuration(0.25), "250 ms");
  assert.equal(formatDuration(42), "42 s");
  assert.equal(formatDuration(200), "3 min 20 s");
  assert.equal(formatDuration(3 * 3600 + 600), "3 h 10 min");
  assert.equal(formatDuration(2 * 86400 + 4 * 3600), "2 d 4 h");
  assert.equal(formatDuration(null), "–");
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(20_300_000), "20.3 MB");
  assert.equal(formatPercent(0.8), "80 %");
  assert.equal(formatPercent(null), "–");
});

Deno.test("health page - shows the status, queue numbers, providers, runs and cron jobs", () => {
  const html = renderHealthPage(sampleReport(), "ok", options);
  assert.match(html, /^<!doctype html>/);
  assert.equal(byId(html, "overall-status"), "ok");
  assert.equal(byId(html, "queue-pending"), "12");
  assert.equal(byId(html, "queue-processing"), "3");
  assert.equal(byId(html, "queue-completed"), "420");
  assert.equal(byId(html, "queue-failed"), "2");
  assert.equal(byId(html, "queue-stuck"), "0");
  assert.equal(byId(html, "queue-oldest-due"), "30.3 s");
  assert.match(html, /data-provider="fmp"/);
  assert.match(html, /200 \/ 250/);
  assert.match(html, /data-job="keepfresh-processor"/);
  assert.match(html, /data-run-id="2"/);
  assert.match(html, /upstream 500/);
  assert.match(html, /id="manual-sync"/);
  assert.match(html, /no active alerts/);
});

Deno.test("health page - active alerts are listed with their severity", () => {
  const report = sampleReport({
    alerts: {
      persisted: true,
      recently_cleared: [],
      active: [{
        id: 1,
        rule: "circuit_open",
        subject: "fmp",
        severity: "critical",
        raised_at: "2026-11-22T11:50:00Z",
        detail: { state: "open", reason: "invalid key" },
      }],
    },
  });
  const html = renderHealthPage(report, "degraded", options);
  assert.equal(byId(html, "overall-status"), "degraded");
  assert.match(html, /<tr data-rule="circuit_open" data-subject="fmp">/);
  assert.match(html, /<span class="pill bad">critical<\/span>/);
  assert.match(html, /10 min 0 s ago/);
  assert.match(html, /reason: invalid key/);
});

Deno.test("health page - text from the database cannot inject markup", () => {
  const report = sampleReport();
  report.cron_jobs[0].last_message = `<script>alert(1)</script>`;
  report.cron_jobs[0].name = `"><img src=x>`;
  const html = renderHealthPage(report, "ok", options);
  assert.ok(!html.includes("<script>alert(1)"));
  assert.ok(!html.includes("<img src=x>"));
  assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
});

Deno.test("health page - no external assets, and inline code carries the nonce", () => {
  const html = renderHealthPage(sampleReport(), "ok", options);
  assert.ok(!/\s(src|href)=/.test(html), "no src or href attributes");
  assert.ok(!/@import|url\(/.test(html), "no CSS imports or urls");
  const scripts = [...html.matchAll(/<script([^>]*)>/g)].map((m) => m[1]);
  assert.deepEqual(scripts, [' nonce="n0nce"']);
  const styles = [...html.matchAll(/<style([^>]*)>/g)].map((m) => m[1]);
  assert.deepEqual(styles, [' nonce="n0nce"']);
  assert.ok(!html.includes("KEEPFRESH_PROCESSOR_SECRET"));
});

Deno.test("health page - the headers forbid caching, referrers and foreign code", () => {
  const headers = healthPageHeaders("abc");
  assert.equal(headers["content-type"], "text/html; charset=utf-8");
  assert.equal(headers["cache-control"], "no-store");
  assert.equal(headers["referrer-policy"], "no-referrer");
  assert.match(headers["content-security-policy"], /default-src 'none'/);
  assert.match(headers["content-security-policy"], /script-src 'nonce-abc'/);
  assert.match(headers["content-security-policy"], /connect-src 'self'/);
});

Deno.test("health page - a down database says so instead of showing stale numbers", () => {
  const html = renderHealthPage(
    {
      database: { reachable: false, error: "database unreachable" },
      latest_migration: null,
      cron_jobs: [],
      cron_failing: 0,
      cron_late: 0,
    },
    "down",
    options,
  );
  assert.equal(byId(html, "overall-status"), "down");
  assert.match(html, /Database unreachable/);
  assert.ok(!html.includes('id="queue-pending"'));
});

Deno.test("health page - the unauthorized page explains the token", () => {
  const html = renderUnauthorizedPage(options);
  assert.match(html, /format=html&amp;token=/);
  assert.ok(!html.includes("<script"), "no script on the unauthorized page");
});

Deno.test("health page - the vocabulary shows version, age and snapshot state first", () => {
  const html = renderHealthPage(
    sampleReport({
      vocabulary: { version: 7, age_seconds: 90, dirty: true, stale: false, fallback_reads: 3 },
    }),
    "ok",
    options,
  );
  assert.equal(byId(html, "vocabulary-version"), "7");
  assert.match(html, /<dt>Age<\/dt><dd>1 min 30 s<\/dd>/);
  assert.match(html, /<span class="pill bad">dirty<\/span> <span class="pill ok">fresh<\/span>/);
  assert.match(html, /<dt>fallback_reads<\/dt><dd>3<\/dd>/);
  const missing = renderHealthPage(sampleReport({ vocabulary: null }), "ok", options);
  assert.match(missing, /Not installed\./);
});
