#!/usr/bin/env bash
# Peak memory and time of `sportello notices` (bulk notices in one ZIP) for 10 000 and
# 100 000 positions, for issue 14 item 5: memory must stay flat (peak RSS for 100k at most
# 1.2 × the peak for 10k) and time linear (100k at most 10.5 × 10k). Release build; SQLite
# databases seeded by the PDF bench binary (single-payment positions of the demo service
# `multe`). Figures go to benches/README.md ("Bulk ZIP").
#
#   benches/notices.sh            # 10 000 and 100 000
#   benches/notices.sh 1000 10000 # other sizes (the last is compared with the first)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000)
work="${NOTICES_BENCH_DIR:-/var/tmp/notices-bench}"
mkdir -p "$work"

cargo build --quiet --release -p sportello --bin sportello
cargo bench --quiet -p sportello --bench pdf --no-run 2>/dev/null
seeder=$(ls -t "$CARGO_TARGET_DIR"/release/deps/pdf-* | grep -v '\.d$' | head -1)
bin="$CARGO_TARGET_DIR/release/sportello"

declare -A rss secs
for n in "${sizes[@]}"; do
    db="$work/n$n.db"
    if [ ! -s "$db" ]; then
        echo "==> seeding $n positions into $db"
        PDF_BENCH_SEED_DB="sqlite://$db?mode=rwc" PDF_BENCH_SEED_N="$n" "$seeder"
    fi
    echo "==> sportello notices, $n positions"
    rm -f "$work/n$n.zip"
    SPORTELLO_DATABASE_URL="sqlite://$db" /usr/bin/time -v -o "$work/time-$n.txt" \
        "$bin" notices --service multe --out "$work/n$n.zip" </dev/null
    rss[$n]=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time-$n.txt")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time-$n.txt")
    secs[$n]=$(echo "$wall" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
    entries=$(unzip -Z1 "$work/n$n.zip" | wc -l)
    size=$(stat -c %s "$work/n$n.zip")
    [ "$entries" -eq "$n" ] || { echo "expected $n entries, the ZIP has $entries" >&2; exit 1; }
    echo "$n positions: wall ${secs[$n]} s, peak RSS ${rss[$n]} KB, $entries entries, $size bytes"
    # The archive is checked whole (CRC of every entry) only when small enough to be quick.
    if [ "$n" -le 10000 ]; then unzip -tq "$work/n$n.zip"; fi
    rm -f "$work/n$n.zip"
done

first=${sizes[0]}
last=${sizes[-1]}
awk -v a="${rss[$first]}" -v b="${rss[$last]}" -v ta="${secs[$first]}" -v tb="${secs[$last]}" \
    -v na="$first" -v nb="$last" 'BEGIN {
    printf "peak RSS %d / %d positions: %.2f (target <= 1.2)\n", nb, na, b / a
    printf "time     %d / %d positions: %.2f (target <= %.1f, i.e. 1.05 x linear)\n", nb, na, tb / ta, 1.05 * nb / na
}'
