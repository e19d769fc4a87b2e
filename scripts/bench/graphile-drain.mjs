// Drains trivial jobs with graphile-worker, the PostgreSQL job queue the
// relay is compared with: `node graphile-drain.mjs MODE WORKERS JOBS ROUNDS`,
// MODE `default` (one job fetched and completed per statement) or `batched`
// (the documented batching: a local queue of 500, completions and failures
// batched with no delay). Connects with the libpq environment (PGHOST,
// PGPORT, PGUSER, PGDATABASE). Prints the median jobs a second over ROUNDS.
import { makeWorkerUtils, run } from "graphile-worker";

const [mode, workers, jobs, rounds] = process.argv.slice(2);
const concurrency = Number(workers);
const count = Number(jobs);
const schema = "graphile_worker_bench";
const batched = {
  localQueue: { size: 500 },
  completeJobBatchDelay: 0,
  failJobBatchDelay: 0,
};
const preset = {
  worker: {
    schema,
    concurrentJobs: concurrency,
    maxPoolSize: concurrency + 2,
    pollInterval: 1000,
    ...(mode === "batched" ? batched : {}),
  },
};
const silent = { scope: () => silent, debug() {}, info() {}, warn() {}, error() {} };

const utils = await makeWorkerUtils({ preset, logger: silent });
await utils.withPgClient((client) => client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
await utils.migrate();

const rates = [];
for (let round = 0; round < Number(rounds); round++) {
  for (let start = 0; start < count; start += 5000) {
    const size = Math.min(5000, count - start);
    await utils.addJobs(Array.from({ length: size }, (_, i) => ({ identifier: "noop", payload: { n: start + i } })));
  }
  let done = 0;
  let drained;
  const allDone = new Promise((resolve) => (drained = resolve));
  const started = process.hrtime.bigint();
  const runner = await run({
    preset,
    logger: silent,
    noHandleSignals: true,
    taskList: {
      noop: async () => {
        done += 1;
        if (done === count) drained();
      },
    },
  });
  await allDone;
  // Stopping flushes the completions still batched in memory.
  await runner.stop();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const left = await utils.withPgClient((client) =>
    client.query(`SELECT count(*)::int AS n FROM ${schema}._private_jobs`),
  );
  if (left.rows[0].n !== 0) throw new Error(`${left.rows[0].n} jobs left after the drain`);
  rates.push(count / seconds);
}
await utils.release();
rates.sort((a, b) => a - b);
console.log(Math.round(rates[Math.floor(rates.length / 2)]));
