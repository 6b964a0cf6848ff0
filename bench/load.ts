// The bench's load generator: lanes of callers that each run one job after another, as buyers at a keyboard do.

/** Runs `job` from `concurrency` lanes until the deadline passes or `jobs` have been started. */
export async function drive(
  concurrency: number,
  seconds: number,
  jobs: number,
  job: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const deadline = Date.now() + seconds * 1000;
  const lane = async () => {
    while (Date.now() < deadline && next < jobs) await job(next++);
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

/** Adds one to `record[key]`: error and outcome tallies by kind. */
export const count = (record: Record<string, number>, key: string) => (record[key] = (record[key] ?? 0) + 1);

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
