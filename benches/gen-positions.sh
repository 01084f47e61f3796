#!/usr/bin/env bash
# Writes a CSV of N debt-position rows in the layout of docs/import.md, as an Italian Excel
# would save it (BOM, `;`, amounts with a comma, dates gg/mm/aaaa), for the bulk-import
# measurements in benches/README.md. Every fifth position has two installments.
#
#   benches/gen-positions.sh 100000 > /tmp/positions-100k.csv
set -euo pipefail
rows="${1:?usage: gen-positions.sh ROWS}"
printf '\xEF\xBB\xBF'
printf 'iupd;codice_fiscale;nominativo;causale;importo;scadenza;tassonomia;rata;email\r\n'
awk -v rows="$rows" 'BEGIN {
    n = 0; p = 0
    while (n < rows) {
        p++
        parts = (p % 5 == 0) ? 2 : 1
        for (r = 1; r <= parts && n < rows; r++) {
            n++
            cents = 1000 + (p * 37) % 90000
            printf "BENCH-%07d;RSSMRA80A01H501U;Mario Rossi %d;TARI 2030 rata %d;%d,%02d;%02d/%02d/2031;9/0101108TS/;%s;utente%d@example.it\r\n", \
                p, p, r, int(cents / 100), cents % 100, 1 + (p % 28), r, (parts > 1 ? r : ""), p
        }
    }
}'
