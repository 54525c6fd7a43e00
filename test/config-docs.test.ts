// The configuration reference stays complete: every variable a service reads is documented, with
// its default and meaning, in the service's README or (the shared ones) in the top-level README.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { aggregatorConfig } from '../aggregator/config.js';
import { ingestConfig } from '../ingest/config.js';
import { payoutsConfig } from '../payouts/config.js';
import { rewardsConfig } from '../rewards/config.js';

const read = (path: string) => readFileSync(join(import.meta.dirname, '..', path), 'utf8');

describe('configuration reference', () => {
  it.each([
    ['ingest', ingestConfig],
    ['aggregator', aggregatorConfig],
    ['rewards', rewardsConfig],
    ['payouts', payoutsConfig],
  ] as const)('documents every variable %s reads', (service, schema) => {
    const docs = read(`${service}/README.md`) + read('README.md');
    expect(Object.keys(schema.shape).filter((name) => !docs.includes(`\`${name}\``))).toEqual([]);
  });
});
