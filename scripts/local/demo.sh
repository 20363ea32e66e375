#!/usr/bin/env bash
# Demo traffic for scripts/dev: asks queue-processor-v2 for a manual sync of a few symbols and
# data types (service role), so the status line shows jobs flowing from the FMP fixture.
# Presence-driven tracking (track-subscription-v2) replaces this once it exists.
set -euo pipefail
: "${SUPABASE_URL:?run through scripts/dev}" "${SUPABASE_SERVICE_ROLE_KEY:?run through scripts/dev}"

symbols='["AAPL","MSFT","NVDA","BRK-B","^GSPC","RELIANCE.NS","VOD.L","KO"]'
types='["quote","profile","ratios-ttm","dividend-history","shares-float","grades-historical"]'
answer="$(curl -sS --max-time 10 -X POST "$SUPABASE_URL/functions/v1/queue-processor-v2" \
  -H "authorization: Bearer $SUPABASE_SERVICE_ROLE_KEY" -H 'content-type: application/json' \
  -d "{\"trigger\":\"manual\",\"symbols\":$symbols,\"dataTypes\":$types}")"
printf '[keepfresh] demo manual sync: %s\n' "$answer" >&2
