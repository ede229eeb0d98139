#!/bin/sh
# Asks loopguard about one transfer, signed with Standard Webhooks, and prints the
# verdict (allow / warn / block); prints "allow" when loopguard does not answer
# within 2 seconds (fail open; change the last line to fail closed).
#
#   loopguard-check.sh CALL_ID EVENT_ID FROM TO [MODE]
#
# Environment: LOOPGUARD_URL (default http://127.0.0.1:8080), LOOPGUARD_SECRET
# (whsec_..., the server's webhook secret). Needs curl, openssl and jq.
set -u
call_id=$1 event_id=$2 from=$3 to=$4 mode=${5:-cold}
url=${LOOPGUARD_URL:-http://127.0.0.1:8080}/v1/transfers
body=$(jq -cn --arg event_id "$event_id" --arg call_id "$call_id" --arg from "$from" \
  --arg to "$to" --arg mode "$mode" \
  '{event_id: $event_id, call_id: $call_id, from: $from, to: $to, mode: $mode}')
id="msg_$event_id"
timestamp=$(date +%s)
key=$(printf '%s' "${LOOPGUARD_SECRET#whsec_}" | openssl base64 -d -A | od -An -tx1 | tr -d ' \n')
signature=$(printf '%s.%s.%s' "$id" "$timestamp" "$body" |
  openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary | openssl base64 -A)
answer=$(curl -sS --max-time 2 -H 'content-type: application/json' \
  -H "webhook-id: $id" -H "webhook-timestamp: $timestamp" -H "webhook-signature: v1,$signature" \
  --data "$body" "$url") && verdict=$(printf '%s' "$answer" | jq -r '.verdict // empty')
printf '%s\n' "${verdict:-allow}"
