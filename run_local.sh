#!/usr/bin/env bash
# ./run_local.sh          set up, start the local Vertex AI emulator, run the sample
#                         job on samples/, print the summary and where the output is
# ./run_local.sh test     set up (Chromium too, for the report's browser test) and run the
#                         whole test suite (extra args go to pytest)
#
# Set-up is a virtualenv in .venv (override with VENV=...), installed from setup.py;
# it is redone only when setup.py changes.
set -euo pipefail
cd "$(dirname "$0")"
VENV=${VENV:-.venv}
PY="$VENV/bin/python"

setup() {
    if [ ! -x "$PY" ]; then
        python3 -m venv "$VENV"
    fi
    local stamp="$VENV/.installed-$(sha256sum setup.py | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        echo "Installing into $VENV (a minute or two the first time)..." >&2
        "$PY" -m pip install -q --disable-pip-version-check -e ".[local,test]" 2> >(grep -v "is ignored: it is neither" >&2)
        rm -f "$VENV"/.installed-*
        touch "$stamp"
    fi
}

install_chromium() {
    # The report is tested in a real browser: Debian's chromium, installed once.
    if ! command -v chromium >/dev/null 2>&1; then
        echo "Installing Chromium for the report's browser test (Debian package chromium)..." >&2
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        $sudo apt-get install -y -q chromium >/dev/null 2>&1 \
            || { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q chromium >/dev/null; }
    fi
}

start_emulator() {
    EMULATOR_LOG=$(mktemp)
    PORT_FILE=$(mktemp)
    rm -f "$PORT_FILE"
    "$PY" -m emulator --port 0 --port_file "$PORT_FILE" "$@" >"$EMULATOR_LOG" 2>&1 &
    EMULATOR_PID=$!
    trap 'kill $EMULATOR_PID 2>/dev/null || true' EXIT
    for _ in $(seq 100); do
        [ -s "$PORT_FILE" ] && break
        if ! kill -0 "$EMULATOR_PID" 2>/dev/null; then cat "$EMULATOR_LOG" >&2; exit 1; fi
        sleep 0.1
    done
    [ -s "$PORT_FILE" ] || { echo "the emulator did not start" >&2; cat "$EMULATOR_LOG" >&2; exit 1; }
    ENDPOINT="http://127.0.0.1:$(cat "$PORT_FILE")"
    echo "Emulator at $ENDPOINT" >&2
}

run_sample() {
    local output=${OUTPUT:-out/sample}
    start_emulator --latency_ms 50 --jitter_ms 20 --rpm 6000
    local job=(--input 'samples/*.jsonl' --output "$output" --endpoint "$ENDPOINT"
        --prompt_template 'Classify the sentiment of this {category} review as positive, negative or mixed, and say why in one sentence. Review: {review}'
        --system_instruction 'You label customer reviews for a retail analytics team.'
        --generation_config '{"temperature": 0.2, "maxOutputTokens": 256}'
        --model_map 'gemini-pro=gemini-3.5-flash,gemini-pro-vision=gemini-3.5-flash'
        --rpm 3000 --concurrency 32)
    echo "First a dry run: every line checked, tokens, cost and duration estimated, nothing billable called." >&2
    "$PY" -m pipeline "${job[@]}" --dry_run >/dev/null
    "$PY" - "$output" <<'PYEOF' >&2
import json, sys
e = json.load(open(f"{sys.argv[1]}/estimate.json"))
print(f"estimate: {e['records']} records, {e['rejected']} lines rejected, "
      f"${e['cost_usd']['standard']:.4f} at Standard (${e['cost_usd']['flex']:.4f} with Flex), "
      f"{e['duration_minutes']} minutes at --rpm; details in {sys.argv[1]}/estimate.json")
PYEOF
    # Exit codes: 0 complete, 3 partial (the samples hold deliberate bad lines and a record
    # that fails, so this run is partial by design), anything else stops here.
    local status=0
    "$PY" -m pipeline "${job[@]}" || status=$?
    if [ "$status" = 3 ]; then
        echo "The run is partial (exit 3), as the samples mean it to be: their bad lines are in the" \
             "rejected table and their failing record is an error row." >&2
    elif [ "$status" != 0 ]; then
        exit "$status"
    fi
    echo
    echo "Output in $output/ (Parquet tables, images/, audio/, summary.json); open $output/report.html"
    echo "in a browser for the run at a glance. This run's tables read back with DuckDB:"
    "$PY" - "$output" <<'PYEOF'
import json, sys, duckdb
files = json.load(open(f"{sys.argv[1]}/summary.json"))["files"]  # table -> list of this run's files
queries = {
    "responses": "SELECT status, count(*) AS records, sum(usage.total_token_count) AS tokens, "
                 "round(sum(cost_usd), 6) AS cost_usd FROM read_parquet($files) "
                 "GROUP BY status ORDER BY status",
    "images": "SELECT status, count(DISTINCT id) AS records, count(uri) AS images, "
              "sum(byte_size) AS bytes FROM read_parquet($files) GROUP BY status ORDER BY status",
    "rejected": "SELECT source, line_number, reason FROM read_parquet($files) "
                "ORDER BY source, line_number",
}
for table, query in queries.items():
    if files.get(table):  # read_parquet refuses an empty list
        print(duckdb.sql(query, params={"files": files[table]}))
PYEOF
}

setup
case "${1:-run}" in
    run) run_sample ;;
    test) shift; install_chromium; exec "$PY" -m pytest "$@" ;;
    *) echo "usage: $0 [run|test [pytest args]]" >&2; exit 2 ;;
esac
