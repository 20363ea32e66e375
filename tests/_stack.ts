// What the integration tests need to reach the stack that scripts/test started.
import postgres from "postgres";

function required(name: string): string {
  const value = Deno.env.get(name);
  if (!value) {
    throw new Error(`${name} is not set: run the integration tests through scripts/test`);
  }
  return value;
}

export const stack = {
  dbUrl: required("SUPABASE_DB_URL"),
  functionsUrl: `${required("SUPABASE_URL")}/functions/v1`,
  anonKey: required("SUPABASE_ANON_KEY"),
  serviceRoleKey: required("SUPABASE_SERVICE_ROLE_KEY"),
  monitoringToken: required("KEEPFRESH_MONITORING_TOKEN"),
  processorSecret: required("KEEPFRESH_PROCESSOR_SECRET"),
  fixtureUrl: required("FMP_BASE_URL"),
};

/** A fresh connection for one test; close it with `await sql.end()`. */
export function connectDb(max = 2): postgres.Sql {
  return postgres(stack.dbUrl, { prepare: false, max, onnotice: () => {} });
}
