// The health-check operator page (?format=html) in headless Chromium, driven over the DevTools
// protocol with Deno's built-in WebSocket (no browser downloads): the rendered DOM shows the
// status, queue depths equal to the database's, every cron job and the active alerts; a real
// mouse click on "Run manual sync" starts a sync run (trigger manual) whose id and final status
// the page shows. Saves artifacts/health-page.png. Needs the Debian package chromium
// (scripts/test installs it); fails with a clear message without it.
import assert from "node:assert/strict";
import { connectDb, stack } from "./_stack.ts";
import { healthUrl, lastAlertId, monitorHeaders, pauseKeepfreshCron } from "./_health.ts";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOT = new URL("../artifacts/health-page.png", import.meta.url);

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void };
type Listener = {
  method: string;
  sessionId?: string;
  resolve: (params: Record<string, unknown>) => void;
};

/** A minimal DevTools-protocol client: commands with ids, events by method and session. */
class Cdp {
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, Pending>();
  #listeners: Listener[] = [];
  #closed: Promise<void>;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    this.#closed = new Promise((resolve) => ws.addEventListener("close", () => resolve()));
    ws.addEventListener("message", (event) => {
      const message = JSON.parse(String(event.data));
      if (typeof message.id === "number") {
        const pending = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (message.error) pending?.reject(new Error(`CDP: ${message.error.message}`));
        else pending?.resolve(message.result);
        return;
      }
      const matched = this.#listeners.filter((l) =>
        l.method === message.method &&
        (l.sessionId === undefined || l.sessionId === message.sessionId)
      );
      this.#listeners = this.#listeners.filter((l) => !matched.includes(l));
      for (const l of matched) l.resolve(message.params ?? {});
    });
  }

  static async connect(url: string): Promise<Cdp> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener("open", () => resolve(), { once: true });
      ws.addEventListener("error", () => reject(new Error(`cannot connect to ${url}`)), {
        once: true,
      });
    });
    return new Cdp(ws);
  }

  send<T = Record<string, unknown>>(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<T> {
    const id = this.#next++;
    const result = new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
    });
    this.#ws.send(JSON.stringify({ id, method, params, sessionId }));
    return withTimeout(result, 30_000, method);
  }

  /** The next event `method` (of `sessionId`); register before triggering it. */
  once(method: string, sessionId?: string): Promise<Record<string, unknown>> {
    return withTimeout(
      new Promise((resolve) => this.#listeners.push({ method, sessionId, resolve })),
      30_000,
      method,
    );
  }

  async close(): Promise<void> {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close();
    await this.#closed;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

type Browser = { cdp: Cdp; close: () => Promise<void> };

/** Starts headless Chromium with a throw-away profile and connects to its DevTools endpoint. */
async function launchChromium(): Promise<Browser> {
  const installed = await Deno.stat(CHROMIUM).then(() => true, () => false);
  assert.ok(
    installed,
    `${CHROMIUM} is missing: install the Debian package (apt-get install -y chromium); ` +
      "scripts/test installs it through kf_install_os_packages",
  );
  const profile = await Deno.makeTempDir({ prefix: "kf-chromium-" });
  const child = new Deno.Command(CHROMIUM, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--hide-scrollbars",
      "--mute-audio",
      `--user-data-dir=${profile}`,
      "--remote-debugging-port=0",
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();

  // Chromium prints "DevTools listening on ws://..." on stderr; keep draining it afterwards.
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  let endpoint: string | undefined;
  const found = (async () => {
    while (endpoint === undefined) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`chromium exited before listening:\n${seen.slice(-2000)}`);
      seen += value;
      endpoint = /DevTools listening on (ws:\/\/\S+)/.exec(seen)?.[1];
    }
    return endpoint;
  })();
  const drain = found.then(async () => {
    while (!(await reader.read()).done) { /* discard */ }
  }).catch(() => {});

  let cdp: Cdp;
  try {
    cdp = await Cdp.connect(await withTimeout(found, 30_000, "chromium DevTools endpoint"));
  } catch (error) {
    child.kill("SIGKILL");
    await child.status;
    await reader.cancel().catch(() => {});
    await drain;
    await Deno.remove(profile, { recursive: true }).catch(() => {});
    throw error;
  }
  return {
    cdp,
    close: async () => {
      await cdp.send("Browser.close").catch(() => {});
      await cdp.close();
      const exited = await withTimeout(child.status, 10_000, "chromium exit").catch(() => null);
      if (exited === null) {
        child.kill("SIGKILL");
        await child.status;
      }
      await drain;
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  };
}

/** A page (target) of the browser with helpers to navigate, evaluate and click. */
async function openPage(cdp: Cdp) {
  const { targetId } = await cdp.send<{ targetId: string }>("Target.createTarget", {
    url: "about:blank",
  });
  const { sessionId } = await cdp.send<{ sessionId: string }>("Target.attachToTarget", {
    targetId,
    flatten: true,
  });
  await cdp.send("Page.enable", {}, sessionId);
  await cdp.send("Runtime.enable", {}, sessionId);
  await cdp.send("Emulation.setDeviceMetricsOverride", {
    width: 1280,
    height: 900,
    deviceScaleFactor: 1,
    mobile: false,
  }, sessionId);

  async function evaluate<T>(expression: string): Promise<T> {
    const result = await cdp.send<{
      result: { value?: T };
      exceptionDetails?: { text: string };
    }>("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true }, sessionId);
    if (result.exceptionDetails) throw new Error(`page error: ${result.exceptionDetails.text}`);
    return result.result.value as T;
  }

  return {
    async goto(url: string) {
      const loaded = cdp.once("Page.loadEventFired", sessionId);
      const nav = await cdp.send<{ errorText?: string }>("Page.navigate", { url }, sessionId);
      assert.equal(nav.errorText, undefined, `navigation to the page failed: ${nav.errorText}`);
      await loaded;
    },
    evaluate,
    text: (selector: string) =>
      evaluate<string | null>(
        `document.querySelector(${JSON.stringify(selector)})?.textContent ?? null`,
      ),
    /** A real mouse click in the middle of the element. */
    async click(selector: string) {
      const box = await evaluate<{ x: number; y: number } | null>(`(() => {
        const el = document.querySelector(${JSON.stringify(selector)});
        if (!el) return null;
        el.scrollIntoView({ block: "center" });
        const r = el.getBoundingClientRect();
        return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
      })()`);
      assert.ok(box, `${selector} is on the page`);
      for (const type of ["mousePressed", "mouseReleased"]) {
        await cdp.send("Input.dispatchMouseEvent", {
          type,
          x: box.x,
          y: box.y,
          button: "left",
          clickCount: 1,
        }, sessionId);
      }
    },
    async screenshot(): Promise<Uint8Array> {
      const metrics = await cdp.send<{ cssContentSize: { height: number } }>(
        "Page.getLayoutMetrics",
        {},
        sessionId,
      );
      await cdp.send("Emulation.setDeviceMetricsOverride", {
        width: 1280,
        height: Math.min(4000, Math.ceil(metrics.cssContentSize.height)),
        deviceScaleFactor: 1,
        mobile: false,
      }, sessionId);
      const { data } = await cdp.send<{ data: string }>("Page.captureScreenshot", {
        format: "png",
      }, sessionId);
      return Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    },
  };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

Deno.test("health page - chromium renders the facts, and the manual-sync button starts a run", async () => {
  const sql = connectDb();
  const resume = await pauseKeepfreshCron(sql);
  const firstAlert = await lastAlertId(sql);
  const [{ lastRun }] = await sql<{ lastRun: string }[]>`
    select coalesce(max(id), 0) as "lastRun" from private.sync_runs`;
  let browser: Browser | undefined;
  try {
    // A known state: two pending jobs due later (a sync leaves them alone), one stuck job (an
    // alert), and a cron job whose last run failed.
    await sql`
      insert into private.api_call_queue_v2 (status, data_type, key, max_attempts, not_before)
      values ('pending', 'quote', 'KFHPLATER1', 3, now() + interval '1 hour'),
             ('pending', 'profile', 'KFHPLATER2', 3, now() + interval '2 hours')`;
    await sql`
      insert into private.api_call_queue_v2
        (status, data_type, key, max_attempts, claimed_at, lease_expires_at, lease_token, worker_id)
      values ('processing', 'quote', 'KFHPSTUCK', 3, now() - interval '6 minutes',
              now() - interval '5 minutes', gen_random_uuid(), 'kf-health-page')`;
    const [job] = await sql`
      select cron.schedule('kf-page-nightly', '*/5 * * * *', 'select kf_missing()') as id`;
    await sql`
      insert into cron.job_run_details
        (jobid, runid, job_pid, database, username, command, status, return_message, start_time, end_time)
      values (${job.id}, nextval('cron.runid_seq'), 4, 'postgres', 'postgres', 'select kf_missing()',
              'failed', 'ERROR:  function kf_missing() does not exist', now() - interval '1 minute',
              now() - interval '1 minute')`;

    const [db] = await sql<{ depth: Record<string, string>; jobs: string[] }[]>`
      select jsonb_build_object(
        'pending', (select count(*) from private.api_call_queue_v2_pending)::text,
        'processing', (select count(*) from private.api_call_queue_v2_processing)::text,
        'completed', (select count(*) from private.api_call_queue_v2_completed)::text,
        'failed', (select count(*) from private.api_call_queue_v2_failed)::text) as depth,
        (select array_agg(jobname order by jobname) from cron.job) as jobs`;

    browser = await launchChromium();
    const page = await openPage(browser.cdp);
    const pageUrl = `${healthUrl}?format=html&token=${encodeURIComponent(stack.monitoringToken)}`;
    await page.goto(pageUrl);

    const json = await (await fetch(healthUrl, { headers: monitorHeaders })).json();
    assert.equal(await page.text("#overall-status"), json.status);
    assert.equal(await page.text("#overall-status"), "degraded");
    for (const status of ["pending", "processing", "completed", "failed"]) {
      assert.equal(await page.text(`#queue-${status}`), db.depth[status], `queue ${status}`);
    }
    assert.equal(await page.text("#queue-stuck"), "1");
    const jobsOnPage = await page.evaluate<string[]>(
      `[...document.querySelectorAll("#cron tr[data-job]")].map((tr) => tr.dataset.job).sort()`,
    );
    assert.deepEqual(jobsOnPage, [...db.jobs].sort());
    assert.match(
      (await page.text('#cron tr[data-job="kf-page-nightly"]')) ?? "",
      /failing.*kf_missing\(\) does not exist/s,
    );
    assert.ok(await page.text('#alerts tr[data-rule="queue_stuck_jobs"]'), "stuck-job alert shown");
    assert.ok(
      await page.text('#alerts tr[data-rule="cron_job_failing"][data-subject="kf-page-nightly"]'),
      "failing-cron alert shown",
    );
    assert.match((await page.text('#providers tr[data-provider="fmp"]')) ?? "", /fmp/);
    assert.equal(
      await page.evaluate<number>(`document.querySelectorAll("link, img, script[src]").length`),
      0,
      "no external assets",
    );

    // The button: a real click, a new manual run, its id and final status on the page.
    await page.click("#manual-sync");
    const runId = Number(
      await waitFor(
        "the page to show a run id",
        async () =>
          (await page.evaluate<string | undefined>(
            `document.getElementById("sync-status").dataset.runId`,
          )) ?? undefined,
      ),
    );
    assert.ok(runId > Number(lastRun), `a new run id (${runId})`);
    const [run] = await sql<{ trigger: string }[]>`
      select trigger from private.sync_runs where id = ${runId}`;
    assert.equal(run?.trigger, "manual", "the button started a manual sync run");
    const finalStatus = await waitFor("the run to finish on the page", async () => {
      const status = await page.evaluate<string>(
        `document.getElementById("sync-status").dataset.runStatus`,
      );
      return status === "running" ? undefined : status;
    });
    const [finished] = await sql<{ status: string }[]>`
      select status from private.sync_runs where id = ${runId}`;
    assert.equal(finalStatus, finished.status);
    assert.match(
      (await page.text("#sync-status")) ?? "",
      new RegExp(`run #${runId}: ${finished.status}`),
    );

    // Reloaded, the run is in the recent runs; keep that view as the screenshot.
    await page.goto(pageUrl);
    assert.match(
      (await page.text(`#recent-runs tr[data-run-id="${runId}"]`)) ?? "",
      new RegExp(`#${runId}\\s*manual`),
    );
    await Deno.mkdir(new URL("./", SCREENSHOT), { recursive: true });
    const png = await page.screenshot();
    assert.deepEqual([...png.slice(1, 4)], [0x50, 0x4e, 0x47], "a PNG");
    await Deno.writeFile(SCREENSHOT, png);
  } finally {
    await browser?.close();
    await sql`delete from private.api_call_queue_v2 where key like 'KFHP%'`;
    await sql`select cron.unschedule(jobid) from cron.job where jobname = 'kf-page-nightly'`;
    await sql`delete from cron.job_run_details where command = 'select kf_missing()'`;
    await fetch(healthUrl).then((res) => res.body?.cancel());
    await sql`delete from private.health_alerts where id > ${firstAlert}`;
    await sql`delete from private.sync_runs where id > ${lastRun} and trigger = 'manual'`;
    await resume();
    await sql.end();
  }
});
