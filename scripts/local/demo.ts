// Demo client for scripts/dev: a local user who watches a few symbols, exactly as a browser
// would (docs/client.md): track once through track-subscription-v2 with supabase-js, then
// heartbeat while "the view stays open". The backend decides what is stale and refreshes it from
// the FMP fixture; scripts/dev's status line shows the jobs flowing. Stops on SIGTERM/SIGINT.
import { createClient } from "@supabase/supabase-js";
import postgres from "postgres";
import { mintJwt } from "./jwt.ts";

const demoUserId = "00000000-0000-4000-8000-00000000d3e0";
const symbols = ["AAPL", "MSFT", "NVDA", "BRK-B", "^GSPC", "RELIANCE.NS", "VOD.L", "KO"];
const dataTypes = ["quote", "profile", "ratios-ttm", "dividend-history", "grades-historical"];

function required(name: string): string {
  const value = Deno.env.get(name);
  if (!value) throw new Error(`${name} is not set: the demo runs under scripts/dev`);
  return value;
}

const sql = postgres(required("SUPABASE_DB_URL"), { max: 1, onnotice: () => {} });
await sql`
  insert into auth.users (id, email) values (${demoUserId}, 'demo@keepfresh.local')
  on conflict (id) do nothing`;
await sql.end();

const token = await mintJwt({
  role: "authenticated",
  sub: demoUserId,
  email: "demo@keepfresh.local",
});
const supabase = createClient(required("SUPABASE_URL"), required("SUPABASE_ANON_KEY"), {
  global: { headers: { Authorization: `Bearer ${token}` } },
  auth: { persistSession: false, autoRefreshToken: false },
});

async function send(action: "track" | "heartbeat" | "untrack") {
  const { data, error } = await supabase.functions.invoke("track-subscription-v2", {
    body: { symbols, dataTypes, action, clientId: "scripts-dev-demo" },
  });
  if (error) {
    console.error(`[demo] ${action} failed: ${error.message}`);
    return 40;
  }
  const queued = Array.isArray(data?.queued) ? data.queued.length : 0;
  console.error(`[demo] ${action}: ${symbols.length} symbols watched, ${queued} refreshes queued`);
  return Number(data?.heartbeatSeconds) || 40;
}

let timer: ReturnType<typeof setTimeout> | undefined;
let stopping = false;
async function loop(action: "track" | "heartbeat") {
  const every = await send(action);
  if (!stopping) timer = setTimeout(() => loop("heartbeat"), every * 1000);
}

async function stop() {
  if (stopping) return;
  stopping = true;
  clearTimeout(timer);
  await send("untrack").catch(() => {});
  Deno.exit(0);
}
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
await loop("track");
