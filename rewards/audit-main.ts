// `npm run audit`: prints the money-invariant report and exits non-zero on any breach.
import pg from 'pg';
import { z } from 'zod';
import { loadConfig, stackEnv } from '../common/config.js';
import { audit, formatReport } from './audit.js';

const config = loadConfig(z.object({ DATABASE_URL: stackEnv.DATABASE_URL }), process.env);
const client = new pg.Client({ connectionString: config.DATABASE_URL });
await client.connect();
try {
  const results = await audit(client);
  console.log(formatReport(results));
  process.exitCode = results.some((r) => r.breaches > 0) ? 1 : 0;
} finally {
  await client.end();
}
