#!/usr/bin/env bash
# Throughput of the durable queue (crates/workpool-queue): no-op jobs per second through the
# library and through `workpool worker`, on SQLite and PostgreSQL, with 1 and 2 worker
# processes, enqueueing and processing timed apart; beside graphile-worker (from npm) on the
# same PostgreSQL, with its defaults and with a local queue of 500 and no completion delay.
# Not a test: it prints a table.
#
# Needs PostgreSQL (WORKPOOL_PG_URL, default postgres://postgres@127.0.0.1:5432/test), psql,
# node and npm.
#
# Usage: benches/queue-throughput.sh
#   JOBS=N      no-op jobs per library and graphile-worker run (default 20000)
#   CMD_JOBS=N  `true` commands for the workpool worker / workpool run rows (default 1000)
#   CONC=N      jobs at once per worker process (default 16)
#   CARGO=CMD   the cargo to build with (default cargo; e.g. a wrapper that takes a lock)
# Targets (issue 16): library at least 2x graphile-worker's best; `workpool worker` on 1,000
# `true` commands within 1.5x of `workpool run` on the same list.
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS=${JOBS:-20000}
CMD_JOBS=${CMD_JOBS:-1000}
CONC=${CONC:-16}
PG=${WORKPOOL_PG_URL:-postgres://postgres@127.0.0.1:5432/test}
# psql's notices (a schema dropped that was not there) are not part of the table.
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
SCHEMA=wpq_bench
GW_SCHEMA=graphile_worker_bench

for tool in psql node npm; do
    command -v "$tool" >/dev/null || { echo "queue-throughput.sh needs $tool" >&2; exit 1; }
done

CARGO=${CARGO:-cargo}
$CARGO build --release --quiet -p workpool-cli
$CARGO build --release --quiet -p workpool-queue --example throughput
wp="$PWD/target/release/workpool"
tp="$PWD/target/release/examples/throughput"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"; psql "$PG" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE; DROP SCHEMA IF EXISTS $GW_SCHEMA CASCADE" >/dev/null 2>&1 || true' EXIT

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }
row() { printf '%-44s %10s %10s\n' "$1" "$2" "$3"; }

# A fresh database for each row: a new SQLite file, or a new schema.
fresh() {
    case "$1" in
        sqlite) rm -f "$tmp/bench.db"*; echo "sqlite:$tmp/bench.db" ;;
        pg)
            psql "$PG" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE; CREATE SCHEMA $SCHEMA" >/dev/null
            echo "$PG?options=-csearch_path%3D$SCHEMA"
            ;;
    esac
}

echo "no-op jobs/s: $JOBS jobs (commands: $CMD_JOBS), $CONC at once per worker process, $(nproc) cores"
row "what" "enqueue/s" "process/s"

# The library: enqueue timed alone, then 1 or 2 processes drain the queue.
for db in sqlite pg; do
    for procs in 1 2; do
        url=$(fresh "$db")
        a=$(now); "$tp" "$url" bench "$JOBS" "$CONC" enqueue >/dev/null; b=$(now)
        c=$(now)
        for _ in $(seq "$procs"); do "$tp" "$url" bench 0 "$CONC" process >/dev/null & done
        wait
        d=$(now)
        row "library, $db, $procs process(es)" "$(rate "$JOBS" "$a" "$b")" "$(rate "$JOBS" "$c" "$d")"
    done
done

# The command: `true` jobs through workpool worker, against workpool run on the same list.
seq "$CMD_JOBS" | sed 's/.*/{"cmd": "true", "id": "&"}/' >"$tmp/jobs.jsonl"
a=$(now); "$wp" run -j 2 --quiet -a "$tmp/jobs.jsonl"; b=$(now)
row "workpool run -j 2 (true)" "-" "$(rate "$CMD_JOBS" "$a" "$b")"
for db in sqlite pg; do
    for procs in 1 2; do
        url=$(fresh "$db")
        a=$(now); "$wp" submit --db "$url" -a "$tmp/jobs.jsonl" >/dev/null; b=$(now)
        c=$(now)
        for _ in $(seq "$procs"); do
            "$wp" worker --db "$url" -j 2 --exit-when-empty --quiet >/dev/null &
        done
        wait
        d=$(now)
        row "workpool worker -j 2, $db, $procs process(es) (true)" "$(rate "$CMD_JOBS" "$a" "$b")" "$(rate "$CMD_JOBS" "$c" "$d")"
    done
done

# graphile-worker on the same server.
mkdir -p "$tmp/gw"
(cd "$tmp/gw" && npm init -y >/dev/null && npm install --silent graphile-worker@0.17 >/dev/null)
cat >"$tmp/gw/bench.js" <<'JS'
const { run, runMigrations } = require("graphile-worker");
const { Client } = require("pg");
const [connectionString, schema, jobs, concurrency, tuned] = process.argv.slice(2);
const preset = tuned === "1" ? { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0 } } : {};
(async () => {
  await runMigrations({ connectionString, schema });
  const client = new Client({ connectionString });
  await client.connect();
  let t0 = process.hrtime.bigint();
  await client.query(`SELECT ${schema}.add_job('noop', json_build_object('i', i)) FROM generate_series(1, $1) i`, [Number(jobs)]);
  const enqueue = Number(jobs) / (Number(process.hrtime.bigint() - t0) / 1e9);
  t0 = process.hrtime.bigint();
  const runner = await run({
    connectionString, schema, concurrency: Number(concurrency), noHandleSignals: true,
    pollInterval: 1000, taskList: { noop: async () => {} }, preset, logger: undefined,
  });
  for (;;) {
    const { rows } = await client.query(`SELECT count(*)::int AS n FROM ${schema}._private_jobs`);
    if (rows[0].n === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const processed = Number(jobs) / (Number(process.hrtime.bigint() - t0) / 1e9);
  await runner.stop();
  await client.end();
  console.log(`${enqueue.toFixed(0)} ${processed.toFixed(0)}`);
})().catch((e) => { console.error(e); process.exit(1); });
JS
for tuned in 0 1; do
    psql "$PG" -qc "DROP SCHEMA IF EXISTS $GW_SCHEMA CASCADE" >/dev/null
    read -r enq proc < <(cd "$tmp/gw" && node bench.js "$PG" "$GW_SCHEMA" "$JOBS" "$CONC" "$tuned" 2>/dev/null | tail -1)
    label="graphile-worker 0.17, concurrency $CONC"
    [ "$tuned" = 1 ] && label="$label, localQueue 500, batch delay 0"
    row "$label" "$enq" "$proc"
done
