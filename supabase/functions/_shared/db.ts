// The database connection every function shares: postgres.js at module scope, reused across
// requests of one worker. `prepare: false` keeps it valid behind Supabase's transaction pooler;
// a small pool and a short connect timeout keep a database outage quick to report.
import postgres from "postgres";
import { env } from "./env.ts";

export type Sql = postgres.Sql;

/** Creates a client for a database URL with keepfresh's connection settings. */
export function connect(url: string, applicationName: string, max = 4): Sql {
  return postgres(url, {
    prepare: false,
    max,
    connect_timeout: 3,
    idle_timeout: 20,
    max_lifetime: 60 * 10,
    connection: { application_name: applicationName },
    onnotice: () => {},
  });
}

let shared: Sql | undefined;

/** The worker's shared client, created on first use. */
export function db(applicationName = "keepfresh"): Sql {
  shared ??= connect(env.SUPABASE_DB_URL, applicationName);
  return shared;
}
