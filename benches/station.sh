#!/usr/bin/env bash
# Station throughput (issue 14 item 1): full verify + activate + sendRTV2 cycles on loopback
# (crates/sportello/examples/station_load.rs, release build, 8 workers) on SQLite and on
# PostgreSQL, then PostgreSQL's own pgbench (TPC-B-like, 8 clients) right after on the same
# server, and the ratio station cycles/s ÷ pgbench TPS. Targets: ratio >= 0.3, SQLite >= 600
# cycles/s. Figures go to benches/README.md ("Station (SOAP)").
#
#   benches/station.sh [cycles] [seconds]    # defaults: 4000 cycles (or 60 s), pgbench 30 s
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cycles="${1:-4000}"
seconds="${2:-30}"
pg="postgres://postgres@127.0.0.1:5432/postgres"
command -v pgbench >/dev/null || { echo "station.sh: pgbench missing (apt-get install postgresql-contrib or postgresql-client)" >&2; exit 1; }
pg_isready -q -h 127.0.0.1 -p 5432 || { echo "station.sh: PostgreSQL is not running on 127.0.0.1:5432" >&2; exit 1; }

cargo build --quiet --release -p sportello --example station_load
load="$CARGO_TARGET_DIR/release/examples/station_load"

rate() { sed -n 's/.*cycles_per_second=\([0-9.]*\).*/\1/p' <<<"$1"; }
echo "==> station, SQLite"
out=$(SPORTELLO_TEST_POSTGRES_URL="$pg" "$load" sqlite "$cycles" 8 60)
echo "$out"
sqlite=$(rate "$out")
echo "==> station, PostgreSQL"
out=$(SPORTELLO_TEST_POSTGRES_URL="$pg" "$load" postgres "$cycles" 8 60)
echo "$out"
postgres=$(rate "$out")

echo "==> pgbench, 8 clients, ${seconds} s"
db="station_pgbench_$$"
createdb -h 127.0.0.1 -U postgres "$db"
trap 'dropdb -h 127.0.0.1 -U postgres --if-exists "$db"' EXIT
pgbench -h 127.0.0.1 -U postgres -i -s 1 -q "$db" >/dev/null 2>&1
out=$(pgbench -h 127.0.0.1 -U postgres -c 8 -j 2 -T "$seconds" "$db" 2>/dev/null)
echo "$out"
tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out" | head -1)

awk -v s="$sqlite" -v p="$postgres" -v t="$tps" 'BEGIN {
    printf "SQLite %.1f cycles/s (target >= 600); PostgreSQL %.1f cycles/s; pgbench %.1f TPS; ratio %.2f (target >= 0.3)\n", s, p, t, p / t
}'
