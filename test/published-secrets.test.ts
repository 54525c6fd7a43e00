// Each entry point refuses the secrets published in this repository unless DEV_MODE=true, before it
// connects to anything (the connection settings here lead nowhere), and names every offending key.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const nowhere = {
  KAFKA_BROKERS: '127.0.0.1:1',
  DATABASE_URL: 'postgres://x:x@127.0.0.1:1/none',
  REDIS_URL: 'redis://127.0.0.1:1',
  CLICKHOUSE_URL: 'http://127.0.0.1:1',
};
/** Production's settings, minus the secrets: nothing local, real WeChat endpoints, free ports. */
const production = {
  ...nowhere,
  LOG_LEVEL: 'warn',
  INGEST_PORT: '0',
  REWARDS_PORT: '0',
  PAYOUTS_PORT: '0',
  SANDBOX_PORT: '0',
  SANDBOX_TLS_PORT: '0',
  SANDBOX_ADMIN_PORT: '0',
  SANDBOX_JOURNAL_FILE: '',
  WECHATPAY_BASE_URL: 'https://api.mch.weixin.qq.com',
  WECHAT_OAUTH_URL: 'https://api.weixin.qq.com',
};
/** A real merchant's credentials, but no files of its own: the sandbox's certificate files must not fill in. */
const realMerchant = {
  WECHATPAY_MCHID: '1230000109',
  WECHATPAY_API_V2_KEY: 'r'.repeat(32),
  WECHATPAY_API_V3_KEY: 's'.repeat(32),
  PAYOUTS_OPERATOR_TOKEN: 'own-operator-token-0123',
  REWARDS_TOKEN_SECRET: 't'.repeat(40),
  REWARDS_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
};
const sandboxFiles = [
  'WECHATPAY_CERT_FILE',
  'WECHATPAY_KEY_FILE',
  'WECHATPAY_PLATFORM_CERT_FILES',
  'WECHATPAY_CA_FILE',
];
const payoutsKeys = [
  'PAYOUTS_OPERATOR_TOKEN',
  'REWARDS_TOKEN_SECRET',
  'REWARDS_ENCRYPTION_KEY',
  'WECHATPAY_MCHID',
  'WECHATPAY_API_V2_KEY',
  'WECHATPAY_API_V3_KEY',
  ...sandboxFiles,
];

/** Runs an entry until it exits or prints `until` (then kills it): its exit code (null when killed) and output. */
function run(entry: string, args: string[], env: Record<string, string>, until?: RegExp) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'DEV_MODE'));
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, entry), ...args], {
    cwd: root,
    env: { ...base, ...production, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise<{ code: number | null; out: string }>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const seen = (chunk: Buffer) => {
      out += chunk.toString();
      if (until?.test(out)) child.kill('SIGKILL');
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('published development secrets', () => {
  it.each([
    ['ingest', 'ingest/main.ts', [], {}, ['INGEST_IP_SALT']],
    [
      'rewards',
      'rewards/main.ts',
      [],
      {},
      ['REWARDS_TOKEN_SECRET', 'REWARDS_ENCRYPTION_KEY', 'REWARDS_OPERATOR_TOKEN', 'WECHAT_APP_SECRET'],
    ],
    ['payouts', 'payouts/main.ts', [], {}, payoutsKeys],
    [
      'payouts with a real merchant but the sandbox certificate files',
      'payouts/main.ts',
      [],
      realMerchant,
      sandboxFiles,
    ],
    [
      'the WeChat Pay sandbox',
      'payouts/sandbox/main.ts',
      [],
      {},
      ['SANDBOX_APP_SECRET', 'SANDBOX_MCHID', 'SANDBOX_API_V2_KEY', 'SANDBOX_API_V3_KEY'],
    ],
    ['npm run rewards -- token', 'rewards/cli-main.ts', ['token', 'u1'], {}, ['REWARDS_TOKEN_SECRET']],
    ['npm run payouts', 'payouts/cli-main.ts', ['discrepancies'], {}, payoutsKeys],
  ] as const)(
    '%s refuses them without DEV_MODE=true, naming each, before connecting',
    async (_, entry, args, env, keys) => {
      const started = Date.now();
      const { code, out } = await run(entry, [...args], env);
      expect(code).not.toBe(0);
      expect(code).not.toBeNull();
      expect(out).toMatch(/refusing to start: .*DEV_MODE=true for local development/);
      for (const key of keys) expect(out).toContain(key);
      expect(out.match(/refusing to start/g)).toHaveLength(1);
      expect(Date.now() - started).toBeLessThan(20_000);
    },
  );

  it('a real merchant with files of its own passes', async () => {
    const own = Object.fromEntries(sandboxFiles.map((k) => [k, '']));
    const { code, out } = await run('payouts/cli-main.ts', ['usage'], {
      ...realMerchant,
      ...own,
      WECHATPAY_CERT_FILE: '/nonexistent/apiclient_cert.pem',
      WECHATPAY_KEY_FILE: '/nonexistent/apiclient_key.pem',
    });
    expect(out).not.toContain('refusing to start');
    expect(code).not.toBe(0); // the files do not exist: it got past the check
  });

  it.each([
    ['ingest', 'ingest/main.ts'],
    ['rewards', 'rewards/main.ts'],
    ['payouts', 'payouts/main.ts'],
    ['the WeChat Pay sandbox', 'payouts/sandbox/main.ts'],
  ])('%s starts with them under DEV_MODE=true, warning', async (_, entry) => {
    const local = {
      WECHATPAY_BASE_URL: 'https://127.0.0.1:1',
      WECHAT_OAUTH_URL: 'http://127.0.0.1:1',
      DEV_MODE: 'true',
    };
    const { out } = await run(entry, [], local, /development_secrets_in_use/);
    expect(out).not.toContain('refusing to start');
    expect(out).toContain('development_secrets_in_use');
  });

  it('payouts refuses the sandbox merchant against a WeChat Pay that is not loopback, even under DEV_MODE=true', async () => {
    const { code, out } = await run('payouts/main.ts', [], { DEV_MODE: 'true' });
    expect(code).toBe(1);
    expect(out).toMatch(/refusing to start: .*WECHATPAY_BASE_URL=https:\/\/api\.mch\.weixin\.qq\.com/);
    for (const key of ['WECHATPAY_MCHID', 'WECHATPAY_API_V2_KEY', 'WECHATPAY_API_V3_KEY', ...sandboxFiles])
      expect(out).toContain(key);
    expect(out).not.toContain('PAYOUTS_OPERATOR_TOKEN');
  });
});
