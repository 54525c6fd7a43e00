// `npm run report [-- --rows N]`: the standard analyst queries as tables (aggregator/report.ts).
import { createClient } from '@clickhouse/client';
import { z } from 'zod';
import { count, loadConfig, stackEnv } from '../common/config.js';
import { runReport } from './report.js';

const config = loadConfig(
  z.object({
    CLICKHOUSE_URL: stackEnv.CLICKHOUSE_URL,
    CLICKHOUSE_DATABASE: stackEnv.CLICKHOUSE_DATABASE,
    REPORT_ROWS: count(20),
  }),
  process.env,
);
const rowsArg = process.argv.indexOf('--rows');
const maxRows = rowsArg > 0 ? Number(process.argv[rowsArg + 1]) : config.REPORT_ROWS;
const clickhouse = createClient({ url: config.CLICKHOUSE_URL, database: config.CLICKHOUSE_DATABASE });
try {
  console.log(
    await runReport(
      { clickhouse, database: config.CLICKHOUSE_DATABASE },
      { maxRows: Number.isInteger(maxRows) && maxRows > 0 ? maxRows : 20 },
    ),
  );
} catch (err) {
  console.error(`report failed: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await clickhouse.close();
}
