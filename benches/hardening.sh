#!/usr/bin/env bash
# Replays the resource attacks of the security review (issue 10) against a running `sportello
# serve` (the demo, SQLite, in a temporary directory) and prints what they cost:
#
#   1. the SOAP attribute bomb (~140 000 attributes, ~1.1 MB): time to the answer, and the
#      /healthz latency while 4 bombs are in flight;
#   2. 100 junk requests of 1 MB to the station: growth of the database files;
#   3. an import of ROWS bad rows (default 1 000 000, ~75 MB): answer size and time;
#   4. the server's peak resident memory (VmHWM) at the end.
#
#   SPORTELLO_BIN=/var/tmp/target-harden/release/sportello benches/hardening.sh [ROWS]
#
# BOMB_ATTRIBUTES (default 140000) makes a smaller bomb, for the code before the fix, whose
# time grows with the square of it.
#
# Run it once with the binary of the code before the fix and once after (see benches/README.md).
# The bomb may take minutes on the code before the fix: every curl has a 600 s cap.
set -euo pipefail
bin="${SPORTELLO_BIN:?set SPORTELLO_BIN to the sportello binary to measure}"
rows="${1:-1000000}"
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port="$(free_port)"
base="http://127.0.0.1:$port"
(
    cd "$work"
    SPORTELLO_LISTEN="127.0.0.1:$port" \
    SPORTELLO_SANDBOX_LISTEN="127.0.0.1:$(free_port)" \
    SPORTELLO_STATION_MAX_BODY_BYTES=2097152 \
    SPORTELLO_IMPORT_MAX_UPLOAD_BYTES=209715200 \
    SPORTELLO_LOG_LEVEL=warn \
    exec "$bin" serve
) >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
    curl -fsS "$base/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null

db_bytes() { du -cb "$work"/data/sportello.db* | tail -1 | cut -f1; }

# 1. The attribute bomb.
python3 - "$work/bomb.xml" "${BOMB_ATTRIBUTES:-140000}" <<'EOF'
import sys, string
letters = string.ascii_letters
def name(i):
    out = ""
    while True:
        out += letters[i % len(letters)]
        i //= len(letters)
        if i == 0:
            return out
attrs = "".join(f" {name(i)}=''" for i in range(int(sys.argv[2])))
xml = ('<?xml version="1.0" encoding="UTF-8"?>'
       '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
       'xmlns:paf="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"><soapenv:Body>'
       f'<paf:paVerifyPaymentNoticeReq{attrs}><idPA>00229080338</idPA>'
       '<idBrokerPA>00229080338</idBrokerPA><idStation>00229080338_01</idStation>'
       '<qrCode><fiscalCode>00229080338</fiscalCode><noticeNumber>301000000000000144</noticeNumber></qrCode>'
       '</paf:paVerifyPaymentNoticeReq></soapenv:Body></soapenv:Envelope>')
open(sys.argv[1], "w").write(xml)
EOF
post_bomb() {
    curl -sS -o "$1" -w '%{time_total}' --max-time 600 -X POST "$base/pagopa/paForNode" \
        -H 'content-type: text/xml; charset=utf-8' -H 'SOAPAction: "paVerifyPaymentNotice"' \
        --data-binary @"$work/bomb.xml"
}
echo "bomb: ${BOMB_ATTRIBUTES:-140000} attributes, $(stat -c %s "$work/bomb.xml") bytes"
t="$(post_bomb "$work/bomb-answer.xml")"
fault="$(grep -o 'PAA_SINTASSI_XSD' "$work/bomb-answer.xml" | head -1 || true)"
echo "bomb: answered in ${t} s (${fault:-no fault code})"
for i in 1 2 3 4; do post_bomb "$work/bomb-$i.xml" >"$work/bomb-$i.time" & done
sleep 0.2
h="$(curl -sS -o /dev/null -w '%{time_total}' --max-time 600 "$base/healthz")"
for j in $(jobs -p); do [ "$j" != "$pid" ] && wait "$j" || true; done
took=""
for f in "$work"/bomb-*.time; do took="$took $(cat "$f")"; done
echo "healthz with 4 bombs in flight: ${h} s; the bombs took${took} s"

# 2. 100 junk requests of 1 MB.
head -c 1048000 /dev/zero | tr '\0' 'x' >"$work/junk"
before="$(db_bytes)"
start="$(date +%s.%N)"
for _ in $(seq 1 100); do
    curl -sS -o /dev/null --max-time 600 -X POST "$base/pagopa/paForNode" \
        -H 'content-type: text/xml' -H 'SOAPAction: "paVerifyPaymentNotice"' \
        --data-binary @"$work/junk"
done
end="$(date +%s.%N)"
after="$(db_bytes)"
rows_bytes="$(sqlite3 "$work/data/sportello.db" "SELECT SUM(LENGTH(request) + LENGTH(response)) FROM event_log WHERE fault_code IS NOT NULL" 2>/dev/null || echo '?')"
echo "100 junk requests of 1 MB: $(python3 -c "print(f'{$end-$start:.1f}')") s, database files (WAL included) grew by $((after - before)) bytes; logged text of refused requests: $rows_bytes bytes"

# 3. An import of bad rows.
{
    printf 'iupd;codice_fiscale;nominativo;causale;importo;scadenza;tassonomia\n'
    awk -v rows="$rows" 'BEGIN { for (i = 0; i < rows; i++) printf "BAD-%09d;NONVALIDO;Mario Rossi;Causale;dieci;31/01/2030;9/0101108TS/\n", i }'
} >"$work/bad.csv"
out="$(curl -sS -o "$work/report.json" -w '%{http_code} %{time_total} %{size_download}' --max-time 600 \
    -X POST "$base/gpd/debt-positions-service/v1/organizations/00229080338/debtpositions/import?partial=true" \
    -H 'Ocp-Apim-Subscription-Key: sportello-demo-key' -H 'content-type: text/csv' \
    --data-binary @"$work/bad.csv")"
read -r code secs size <<<"$out"
echo "import of $rows bad rows ($(stat -c %s "$work/bad.csv") bytes, partial): HTTP $code in ${secs} s, answer $size bytes"

# 4. Peak memory.
echo "server peak RSS: $(grep VmHWM /proc/$pid/status | awk '{print $2, $3}')"
