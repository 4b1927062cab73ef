#!/usr/bin/env bash
# warc-recrawl-bench.sh compares two crawler binaries on what --warc costs a crawl and then a
# --recrawl of the same site, a site that sends no validators (so every page is fetched
# again, and a crawler that deduplicates across runs writes revisits). Rounds are
# interleaved, the order alternating; each run prints CPU (user+sys), wall time, peak RSS,
# pages, CPU per page and the size of the WARC files. Usage, from the module's root:
#
#   go build -o /tmp/b/testserver ./cmd/testserver
#   go build -o /tmp/b/crawler-new ./cmd/crawler      # and crawler-base from the other commit
#   B=/tmp/b ROUNDS=4 PAGES=10000 scripts/warc-recrawl-bench.sh
#
# It needs GNU time (/usr/bin/time) and sqlite3, and uses loopback only.
set -euo pipefail
B=${B:?the directory of testserver, crawler-base and crawler-new}
ROUNDS=${ROUNDS:-4}
PAGES=${PAGES:-10000}
for r in $(seq 1 "$ROUNDS"); do
  if (( r % 2 )); then order="base new"; else order="new base"; fi
  for v in $order; do
    w=$B/run-$r-$v; rm -rf "$w"; mkdir -p "$w"
    "$B/testserver" -hosts 4 -pages "$PAGES" -links 10 -size 4096 -cross 0.1 -seed 1 > "$w/ts.out" 2>"$w/ts.err" &
    ts=$!
    until grep -q '^ready' "$w/ts.err" 2>/dev/null; do sleep 0.1; done
    seeds=$(grep '^http' "$w/ts.out" | tr '\n' ' ')
    for phase in crawl recrawl; do
      if [ $phase = crawl ]; then
        args="crawl --db $w/c.db --warc $w/warc --concurrency 16 --per-host 16 --rate 0 --quiet $seeds"
      else
        args="crawl --db $w/c.db --recrawl --concurrency 16 --per-host 16 --rate 0 --quiet"
      fi
      /usr/bin/time -f "%U %S %M %e" -o "$w/$phase.time" "$B/crawler-$v" $args > "$w/$phase.out" 2>&1 || true
      read -r u s m e < "$w/$phase.time"
      pages=$(sqlite3 "$w/c.db" "select count(*) from pages where status=200" 2>/dev/null || echo '?')
      warcbytes=$(du -cb "$w"/warc/*.warc.gz | tail -1 | cut -f1)
      awk -v r="$r" -v v="$v" -v ph=$phase -v u="$u" -v s="$s" -v m="$m" -v e="$e" -v p="$pages" -v wb="$warcbytes" \
        'BEGIN{printf "round %d %-4s %-7s cpu %.2fs wall %.2fs peakRSS %.1fMiB pages %s cpu/page %.3fms warc %.1fMB\n", r, v, ph, u+s, e, m/1024, p, (u+s)*1000/p, wb/1e6}'
    done
    kill "$ts"; wait "$ts" 2>/dev/null || true
    rm -rf "$w"
  done
done
