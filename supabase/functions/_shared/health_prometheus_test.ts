import assert from "node:assert/strict";
import {
  escapeHelp,
  escapeLabelValue,
  formatValue,
  PROMETHEUS_CONTENT_TYPE,
  renderPrometheus,
} from "./health_prometheus.ts";
import { sampleReport } from "./health_sample.ts";

const SAMPLE =
  /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/;

type Parsed = {
  types: Map<string, string>;
  samples: { name: string; labels: string; value: string; family: string }[];
};

/** Parses exposition text strictly: HELP then TYPE once per family, samples right after them. */
function parse(text: string): Parsed {
  assert.ok(text.endsWith("\n"), "ends with a newline");
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const samples: Parsed["samples"] = [];
  let family = "";
  for (const line of text.slice(0, -1).split("\n")) {
    const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$/.exec(line);
    if (help) {
      assert.ok(!helps.has(help[1]), `one HELP for ${help[1]}`);
      helps.add(help[1]);
      family = help[1];
      continue;
    }
    if (type) {
      assert.equal(type[1], family, `TYPE follows HELP for ${family}`);
      assert.ok(!types.has(type[1]), `one TYPE for ${type[1]}`);
      types.set(type[1], type[2]);
      continue;
    }
    const sample = SAMPLE.exec(line);
    assert.ok(sample, `valid sample line: ${line}`);
    const name = sample[1];
    assert.ok(
      name === family || (types.get(family) === "histogram" && name.startsWith(`${family}_`)),
      `${name} is listed under its family ${family}`,
    );
    samples.push({ name, labels: sample[2] ?? "", value: sample[5], family });
  }
  return { types, samples };
}

function value(parsed: Parsed, name: string, labels = ""): number {
  const found = parsed.samples.find((s) => s.name === name && s.labels === labels);
  assert.ok(found, `sample ${name}${labels}`);
  return Number(found.value);
}

Deno.test("prometheus - the content type is text exposition 0.0.4", () => {
  assert.equal(PROMETHEUS_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
});

Deno.test("prometheus - every line parses, with one HELP and TYPE per family", () => {
  const parsed = parse(renderPrometheus(sampleReport(), "ok"));
  assert.equal(parsed.types.get("keepfresh_jobs_completed_total"), "counter");
  assert.equal(parsed.types.get("keepfresh_queue_jobs"), "gauge");
  assert.equal(parsed.types.get("keepfresh_sync_run_duration_seconds"), "histogram");
  for (const [name, type] of parsed.types) {
    if (type === "counter") assert.ok(name.endsWith("_total"), `${name} ends in _total`);
  }
});

Deno.test("prometheus - gauges carry the report's queue, quota, circuit and alerts", () => {
  const report = sampleReport();
  report.alerts = {
    persisted: true,
    recently_cleared: [],
    active: [{
      id: 7,
      rule: "quota_high",
      subject: "fmp:calls_per_day",
      severity: "warning",
      raised_at: "2026-11-22T11:00:00Z",
      detail: {},
    }],
  };
  const parsed = parse(renderPrometheus(report, "degraded"));
  assert.equal(value(parsed, "keepfresh_up"), 1);
  assert.equal(value(parsed, "keepfresh_health_status", '{status="degraded"}'), 1);
  assert.equal(value(parsed, "keepfresh_health_status", '{status="ok"}'), 0);
  assert.equal(value(parsed, "keepfresh_queue_jobs", '{status="pending"}'), 12);
  assert.equal(value(parsed, "keepfresh_queue_jobs", '{status="completed"}'), 420);
  assert.equal(value(parsed, "keepfresh_queue_oldest_pending_age_seconds"), 75.5);
  assert.equal(value(parsed, "keepfresh_queue_stuck_jobs"), 0);
  assert.equal(
    value(parsed, "keepfresh_quota_used", '{provider="fmp",window="calls_per_day"}'),
    200,
  );
  assert.equal(
    value(parsed, "keepfresh_quota_limit", '{provider="fmp",window="calls_per_day"}'),
    250,
  );
  assert.equal(value(parsed, "keepfresh_circuit_open", '{provider="fmp"}'), 0);
  assert.equal(value(parsed, "keepfresh_provider_state", '{provider="fmp",state="ok"}'), 1);
  assert.equal(value(parsed, "keepfresh_alerts_active"), 1);
  assert.equal(
    value(
      parsed,
      "keepfresh_alert_active",
      '{rule="quota_high",subject="fmp:calls_per_day",severity="warning"}',
    ),
    1,
  );
  assert.equal(value(parsed, "keepfresh_cron_job_failing", '{job="keepfresh-processor"}'), 0);
  assert.equal(value(parsed, "keepfresh_processor_success_ratio", '{window="1h"}'), 0.5);
});

Deno.test("prometheus - counters and the histogram come from the all-time totals", () => {
  const parsed = parse(renderPrometheus(sampleReport(), "ok"));
  assert.equal(value(parsed, "keepfresh_jobs_completed_total"), 950);
  assert.equal(value(parsed, "keepfresh_jobs_failed_total"), 30);
  assert.equal(value(parsed, "keepfresh_upstream_calls_total"), 1100);
  assert.equal(value(parsed, "keepfresh_upstream_bytes_total"), 9_000_000);
  assert.equal(value(parsed, "keepfresh_sync_runs_total", '{status="failed"}'), 4);
  const buckets = parsed.samples.filter((s) =>
    s.name === "keepfresh_sync_run_duration_seconds_bucket"
  );
  assert.deepEqual(buckets.map((b) => b.labels), [
    '{le="0.1"}',
    '{le="0.5"}',
    '{le="1"}',
    '{le="2.5"}',
    '{le="5"}',
    '{le="10"}',
    '{le="+Inf"}',
  ]);
  const counts = buckets.map((b) => Number(b.value));
  assert.deepEqual(counts, [...counts].sort((a, b) => a - b), "cumulative buckets never decrease");
  assert.equal(counts.at(-1), value(parsed, "keepfresh_sync_run_duration_seconds_count"));
  assert.equal(value(parsed, "keepfresh_sync_run_duration_seconds_sum"), 250.5);
});

Deno.test("prometheus - a quota window without a limit has no limit sample", () => {
  const report = sampleReport();
  report.providers![0].windows[2] = { name: "bytes_per_30d", used: 5, limit: null, ratio: null };
  const parsed = parse(renderPrometheus(report, "ok"));
  assert.equal(value(parsed, "keepfresh_quota_used", '{provider="fmp",window="bytes_per_30d"}'), 5);
  assert.ok(
    !parsed.samples.some((s) =>
      s.name === "keepfresh_quota_limit" && s.labels.includes("bytes_per_30d")
    ),
  );
});

Deno.test("prometheus - label values with quotes, backslashes and newlines are escaped", () => {
  assert.equal(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  assert.equal(escapeHelp("a\\b\nc"), "a\\\\b\\nc");
  const report = sampleReport();
  report.cron_jobs[0].name = 'odd "job"\\\nname';
  const parsed = parse(renderPrometheus(report, "ok"));
  assert.equal(value(parsed, "keepfresh_cron_job_failing", '{job="odd \\"job\\"\\\\\\nname"}'), 0);
});

Deno.test("prometheus - special values are spelled as Prometheus expects", () => {
  assert.equal(formatValue(NaN), "NaN");
  assert.equal(formatValue(Infinity), "+Inf");
  assert.equal(formatValue(-Infinity), "-Inf");
  assert.equal(formatValue(0.25), "0.25");
});

Deno.test("prometheus - an unreachable database reports up 0 and status down only", () => {
  const down = {
    database: { reachable: false },
    latest_migration: null,
    cron_jobs: [],
    cron_failing: 0,
    cron_late: 0,
  };
  const parsed = parse(renderPrometheus(down, "down"));
  assert.equal(value(parsed, "keepfresh_up"), 0);
  assert.equal(value(parsed, "keepfresh_health_status", '{status="down"}'), 1);
  assert.deepEqual([...parsed.types.keys()], ["keepfresh_up", "keepfresh_health_status"]);
});

Deno.test("prometheus - the vocabulary version, age and dirty flag are gauges once it exists", () => {
  const without = parse(renderPrometheus(sampleReport({ vocabulary: null }), "ok"));
  assert.ok(!without.types.has("keepfresh_vocabulary_version"));
  const report = sampleReport({ vocabulary: { version: 12, age_seconds: 4.5, dirty: false } });
  const parsed = parse(renderPrometheus(report, "ok"));
  assert.equal(value(parsed, "keepfresh_vocabulary_version"), 12);
  assert.equal(value(parsed, "keepfresh_vocabulary_age_seconds"), 4.5);
  assert.equal(value(parsed, "keepfresh_vocabulary_dirty"), 0);
});
