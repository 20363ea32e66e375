# shellcheck shell=bash
# keepfresh local stack: tools, a private PostgreSQL 15 cluster with pg_cron, pgTAP and the
# pg_net shim, the Supabase-compatible bootstrap, migrations through the real Supabase CLI,
# and the background services (pg_net worker, functions gateway, FMP fixture).
# Sourced by scripts/dev, scripts/test and the benchmarks; every function is prefixed kf_.

KF_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KF_TOOLS="$KF_ROOT/.tools"
KF_PGBIN="/usr/lib/postgresql/15/bin"
KF_DENO_VERSION="2.9.6"
KF_SUPABASE_VERSION="3.1.0"
# Supabase's well-known local JWT secret and demo keys (CLI defaults), so standard clients work.
KF_JWT_SECRET="super-secret-jwt-token-with-at-least-32-characters-long"
KF_ANON_KEY="eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0"
KF_SERVICE_ROLE_KEY="eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU"
KF_PUBLISHABLE_KEY="sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"
KF_SECRET_KEY="sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz"
# Local-only processor secret (hosted: generate one, store it in Vault and in function secrets).
KF_PROCESSOR_SECRET="local-processor-secret-not-for-production"
KF_MONITORING_TOKEN="local-monitoring-token-not-for-production"

KF_PIDS=()

kf_log() { printf '[keepfresh] %s\n' "$*" >&2; }
kf_die() {
  printf '[keepfresh] error: %s\n' "$*" >&2
  exit 1
}

# Installs the Debian packages the stack needs when they are missing (root only).
kf_install_os_packages() {
  local sharedir=/usr/share/postgresql/15/extension missing=()
  [ -x "$KF_PGBIN/postgres" ] || missing+=(postgresql-15)
  [ -f "$sharedir/pg_cron.control" ] || missing+=(postgresql-15-cron)
  [ -f "$sharedir/pgtap.control" ] || missing+=(postgresql-15-pgtap)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v pg_prove >/dev/null 2>&1 || missing+=(libtap-parser-sourcehandler-pgtap-perl)
  command -v psql >/dev/null 2>&1 || missing+=(postgresql-client-15)
  if [ "${#missing[@]}" -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || kf_die "missing Debian packages: ${missing[*]} (install them as root: apt-get install ${missing[*]})"
    kf_log "installing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null ||
      kf_die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null ||
      kf_die "apt-get install ${missing[*]} failed"
  fi
  kf_install_pg_net_shim
}

# Installs the local pg_net extension (control + SQL) into the cluster's extension directory.
kf_install_pg_net_shim() {
  local sharedir src
  sharedir="$("$KF_PGBIN/pg_config" --sharedir)/extension"
  for src in "$KF_ROOT"/scripts/local/pg_net/pg_net*; do
    if ! cmp -s "$src" "$sharedir/$(basename "$src")"; then
      [ -w "$sharedir" ] || kf_die "cannot write $sharedir to install the pg_net shim (run as root once)"
      install -m 0644 "$src" "$sharedir/"
    fi
  done
}

# Installs the pinned Deno and Supabase CLI from npm into .tools/ and puts them on PATH.
kf_install_tools() {
  local want="deno $KF_DENO_VERSION supabase $KF_SUPABASE_VERSION" have=""
  if [ -x "$KF_TOOLS/node_modules/.bin/deno" ] && [ -x "$KF_TOOLS/node_modules/.bin/supabase" ]; then
    have="deno $("$KF_TOOLS/node_modules/.bin/deno" --version 2>/dev/null | awk 'NR==1{print $2}') supabase $("$KF_TOOLS/node_modules/.bin/supabase" --version 2>/dev/null)"
  fi
  if [ "$have" != "$want" ]; then
    command -v npm >/dev/null 2>&1 || kf_die "npm is required to install Deno and the Supabase CLI"
    kf_log "installing $want from npm into .tools/"
    mkdir -p "$KF_TOOLS"
    cp "$KF_ROOT/scripts/tools/package.json" "$KF_ROOT/scripts/tools/package-lock.json" "$KF_TOOLS/"
    (cd "$KF_TOOLS" && npm install --no-audit --no-fund --loglevel=error >/dev/null 2>"$KF_TOOLS/npm.log") ||
      kf_die "npm install failed (see .tools/npm.log)"
  fi
  export PATH="$KF_TOOLS/node_modules/.bin:$PATH"
  export DENO_NO_UPDATE_CHECK=1 SUPABASE_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
  (cd "$KF_ROOT" && deno install --quiet >/dev/null 2>&1) || (cd "$KF_ROOT" && deno install) ||
    kf_die "deno install (npm dependencies of deno.json) failed"
}

# True when something listens on 127.0.0.1:$1.
kf_port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

kf_require_free_port() {
  if kf_port_taken "$1"; then
    kf_die "port $1 ($2) is already in use: another keepfresh stack or program holds it (find it with: ss -ltnp 'sport = :$1'); stop it or choose other ports"
  fi
}

kf_as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# kf_cluster_init DIR PORT: creates a cluster in DIR/pgdata unless it exists, configured for PORT.
kf_cluster_init() {
  local dir="$1" port="$2" pgdata="$1/pgdata"
  mkdir -p "$dir/run"
  if [ ! -f "$pgdata/PG_VERSION" ]; then
    kf_log "creating PostgreSQL 15 cluster in ${dir#"$KF_ROOT"/}"
    rm -rf "$pgdata"
    mkdir -p "$pgdata"
    printf 'postgres\n' >"$dir/pwfile"
    [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$dir"
    kf_as_postgres "$KF_PGBIN/initdb" -D "$pgdata" -U postgres --pwfile="$dir/pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
      kf_die "initdb failed (see $dir/initdb.log)"
    rm -f "$dir/pwfile"
  fi
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir" "$dir/run"
  # Settings are rewritten on every start so a changed port or socket dir always applies.
  cat >"$pgdata/keepfresh.conf" <<EOF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/run'
max_connections = 200
shared_buffers = '256MB'
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 32
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
EOF
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$pgdata/keepfresh.conf"
  grep -q "^include_if_exists = 'keepfresh.conf'" "$pgdata/postgresql.conf" ||
    echo "include_if_exists = 'keepfresh.conf'" >>"$pgdata/postgresql.conf"
}

# kf_cluster_start DIR PORT: starts the cluster, with clear messages on a running or stale one.
kf_cluster_start() {
  local dir="$1" port="$2" pgdata="$1/pgdata" pid
  if [ -f "$pgdata/postmaster.pid" ]; then
    pid="$(head -n 1 "$pgdata/postmaster.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kf_die "the cluster in ${dir#"$KF_ROOT"/} is already running (postmaster pid $pid): is another scripts/dev or scripts/test running? Stop it first"
    fi
    kf_log "removing stale postmaster.pid (pid $pid is not running)"
    rm -f "$pgdata/postmaster.pid"
  fi
  kf_require_free_port "$port" "PostgreSQL"
  kf_as_postgres "$KF_PGBIN/pg_ctl" -D "$pgdata" -l "$dir/postgres.log" -w -t 60 start >/dev/null ||
    kf_die "PostgreSQL did not start (see ${dir#"$KF_ROOT"/}/postgres.log)"
}

kf_cluster_stop() {
  local pgdata="$1/pgdata"
  [ -f "$pgdata/postmaster.pid" ] || return 0
  kf_as_postgres "$KF_PGBIN/pg_ctl" -D "$pgdata" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

kf_db_url() { printf 'postgresql://postgres:postgres@127.0.0.1:%s/postgres' "$1"; }

kf_psql() {
  PGCONNECT_TIMEOUT=5 psql -X -q -v ON_ERROR_STOP=1 "$@"
}

# kf_db_setup PORT GATEWAY_PORT: bootstrap, migrations through the CLI, local secrets in Vault.
kf_db_setup() {
  local port="$1" gw_port="$2" url
  url="$(kf_db_url "$port")"
  kf_psql "$url" -f "$KF_ROOT/scripts/local/bootstrap.sql" >/dev/null || kf_die "bootstrap failed"
  (cd "$KF_ROOT" && supabase db push --remote="$url" --yes >"$KF_STATE_DIR/db-push.log" 2>&1) || {
    cat "$KF_STATE_DIR/db-push.log" >&2
    kf_die "supabase db push failed"
  }
  # Local secrets, stored the way docs/deploy.md tells a hosted user to store them.
  kf_psql "$url" -v url="http://127.0.0.1:$gw_port" -v secret="$KF_PROCESSOR_SECRET" >/dev/null <<'SQL'
select vault.create_secret(:'url', 'keepfresh_functions_url', 'keepfresh: base URL of the Edge Functions')
where not exists (select 1 from vault.secrets where name = 'keepfresh_functions_url');
update vault.secrets set secret = :'url' where name = 'keepfresh_functions_url';
select vault.create_secret(:'secret', 'keepfresh_processor_secret', 'keepfresh: processor secret')
where not exists (select 1 from vault.secrets where name = 'keepfresh_processor_secret');
SQL
}

# kf_local_provider_plan URL: the local upstream is the fixture, not a paid plan. Sets FMP's quota
# as on the Premium plan (750 calls/min, no daily cap, 50 GB/30 days), so demos, the Deno tests and
# load runs are not throttled by the free tier's 250 calls/day that the migration seeds (pgTAP
# checks the seed, so scripts/test applies this after pg_prove). Tests of the quota set their own.
kf_local_provider_plan() {
  kf_psql "$1" -c "update private.providers set calls_per_minute = 750, calls_per_day = null,
    bytes_per_30d = 50000000000 where provider = 'fmp'" >/dev/null
}

# kf_env PORT GATEWAY_PORT FIXTURE_PORT: exports what a hosted function gets, pointed at this stack.
kf_env() {
  export KF_DB_PORT="$1" KF_GATEWAY_PORT="$2" KF_FIXTURE_PORT="$3"
  export SUPABASE_URL="http://127.0.0.1:$2"
  export SUPABASE_DB_URL
  SUPABASE_DB_URL="$(kf_db_url "$1")"
  export SUPABASE_ANON_KEY="$KF_ANON_KEY" SUPABASE_SERVICE_ROLE_KEY="$KF_SERVICE_ROLE_KEY"
  export SUPABASE_PUBLISHABLE_KEYS="{\"default\":\"$KF_PUBLISHABLE_KEY\"}"
  export SUPABASE_SECRET_KEYS="{\"default\":\"$KF_SECRET_KEY\"}"
  export SUPABASE_JWT_SECRET="$KF_JWT_SECRET"
  export KEEPFRESH_PROCESSOR_SECRET="$KF_PROCESSOR_SECRET"
  export KEEPFRESH_MONITORING_TOKEN="$KF_MONITORING_TOKEN"
  export FMP_BASE_URL="http://127.0.0.1:$3" FMP_API_KEY="local-fixture-key"
}

# kf_spawn NAME CMD...: starts a background service, logging to the state dir.
kf_spawn() {
  local name="$1"
  shift
  "$@" >>"$KF_STATE_DIR/$name.log" 2>&1 &
  KF_PIDS+=("$!")
  echo "$!" >"$KF_STATE_DIR/$name.pid"
}

# kf_wait_http URL SECONDS: waits until URL answers at all.
kf_wait_http() {
  local url="$1" deadline=$((SECONDS + $2))
  until curl -s -o /dev/null --max-time 2 "$url"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# kf_spawn_http NAME PORT CMD...: starts an HTTP service and waits for GET /health. Our ports lie
# in Linux's ephemeral range, so an outgoing connection can briefly hold one: on "address in use"
# the start is retried (3 tries) before giving up with the log's location.
kf_spawn_http() {
  local name="$1" port="$2" try
  shift 2
  for try in 1 2 3; do
    kf_spawn "$name" "$@"
    if kf_wait_http "http://127.0.0.1:$port/health" 60; then return 0; fi
    kill -TERM "$(cat "$KF_STATE_DIR/$name.pid")" 2>/dev/null || true
    grep -q "AddrInUse" "$KF_STATE_DIR/$name.log" 2>/dev/null || break
    kf_log "$name: port $port was briefly in use, retrying ($try/3)"
    sleep 1
  done
  kf_die "$name did not start on port $port (see $KF_STATE_DIR/$name.log)"
}

# kf_start_services: pg_net worker, FMP fixture and functions gateway for the exported env.
kf_start_services() {
  local deno_run=(deno run --quiet --allow-net --allow-env --allow-read --allow-run --allow-sys)
  kf_require_free_port "$KF_GATEWAY_PORT" "functions gateway"
  kf_require_free_port "$KF_FIXTURE_PORT" "FMP fixture"
  kf_spawn pg_net_worker "${deno_run[@]}" "$KF_ROOT/scripts/local/pg_net_worker.ts"
  kf_spawn_http fixture "$KF_FIXTURE_PORT" "${deno_run[@]}" "$KF_ROOT/scripts/fixture/fmp.ts" --port "$KF_FIXTURE_PORT"
  kf_spawn_http gateway "$KF_GATEWAY_PORT" "${deno_run[@]}" --allow-write "$KF_ROOT/scripts/local/gateway.ts" --port "$KF_GATEWAY_PORT"
}

# kf_stop_services: stops every background service this shell started, newest first (the demo
# client untracks through the gateway before the gateway goes), each given 5 s before SIGKILL.
kf_stop_services() {
  local i pid
  for ((i = ${#KF_PIDS[@]} - 1; i >= 0; i--)); do
    pid="${KF_PIDS[$i]}"
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  KF_PIDS=()
}
