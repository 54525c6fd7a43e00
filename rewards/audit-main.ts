// `npm run audit`: prints the money-invariant report and exits non-zero on any breach.
import pg from 'pg';
import { z } from 'zod';
import { count, loadConfig, stackEnv } from '../common/config.js';
import { audit, DEFAULT_STALE_HOLD_MS, formatReport } from './audit.js';

const config = loadConfig(
  z.object({ DATABASE_URL: stackEnv.DATABASE_URL, REWARDS_AUDIT_STALE_HOLD_MS: count(DEFAULT_STALE_HOLD_MS) }),
  process.env,
);
const client = new pg.Client({ connectionString: config.DATABASE_URL });
await client.connect();
try {
  const results = await audit(client, { staleHoldMs: config.REWARDS_AUDIT_STALE_HOLD_MS });
  console.log(formatReport(results));
  process.exitCode = results.some((r) => r.breaches > 0) ? 1 : 0;
} finally {
  await client.end();
}
