// The rule for secrets published in this repository (common/config.ts refusePublishedSecrets), and
// what counts as development mode.
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { devSecrets, loadConfig, refusePublishedSecrets, stackEnv, type SecretRule } from './config.js';

const published = {
  TOKEN_SECRET: 'published-token',
  SALT: 'published-salt',
  CERT_FILE: (v: unknown) => String(v).startsWith('/sandbox/'),
};
const rule = (devMode: boolean, extra: Partial<SecretRule> = {}): SecretRule => ({ devMode, published, ...extra });
const own = { TOKEN_SECRET: 'own-token', SALT: 'own-salt', CERT_FILE: '/etc/merchant/cert.pem' };
const all = { TOKEN_SECRET: 'published-token', SALT: 'published-salt', CERT_FILE: '/sandbox/c.pem' };
const sandboxOnly = { urlKey: 'BASE_URL', keys: ['TOKEN_SECRET', 'CERT_FILE'] };

describe('refusePublishedSecrets', () => {
  it.each([
    ['TOKEN_SECRET', { ...own, TOKEN_SECRET: 'published-token' }],
    ['SALT', { ...own, SALT: 'published-salt' }],
    ['CERT_FILE', { ...own, CERT_FILE: '/sandbox/cert.pem' }],
  ])('refuses the published %s outside development mode, naming it and DEV_MODE', (key, config) => {
    const verdict = refusePublishedSecrets(config, rule(false));
    expect(verdict.refused).toEqual([key]);
    expect(verdict.message).toContain(key);
    expect(verdict.message).toContain('DEV_MODE=true');
  });

  it.each(Object.entries(devSecrets))('refuses the published default of %s outside development mode', (key, value) => {
    expect(refusePublishedSecrets({ [key]: value }, { devMode: false, published: devSecrets }).refused).toEqual([key]);
  });

  it('names every published secret in use in one message', () => {
    const verdict = refusePublishedSecrets(all, rule(false));
    expect(verdict.refused).toEqual(['TOKEN_SECRET', 'SALT', 'CERT_FILE']);
    expect(verdict.message.split('\n')).toHaveLength(1);
  });

  it('allows every published secret in development mode, and lists them for the warning', () => {
    expect(refusePublishedSecrets(all, rule(true))).toEqual({
      refused: [],
      inUse: ['TOKEN_SECRET', 'SALT', 'CERT_FILE'],
      message: '',
    });
  });

  it.each([false, true])('allows secrets of its own (development mode %s)', (devMode) => {
    expect(refusePublishedSecrets(own, rule(devMode))).toEqual({ refused: [], inUse: [], message: '' });
  });

  it('skips the published secrets a service does not read', () => {
    expect(refusePublishedSecrets({ SALT: 'own-salt' }, rule(false)).refused).toEqual([]);
  });

  it.each([
    ['https://api.mch.weixin.qq.com', ['TOKEN_SECRET', 'CERT_FILE']],
    ['https://10.0.0.5:8091', ['TOKEN_SECRET']],
    ['https://127.0.0.1.example.com', ['TOKEN_SECRET']],
    ['not a url', ['TOKEN_SECRET']],
  ])('refuses sandbox-only secrets against %s even in development mode', (url, keys) => {
    const config = {
      ...own,
      TOKEN_SECRET: 'published-token',
      CERT_FILE: keys.includes('CERT_FILE') ? '/sandbox/c.pem' : own.CERT_FILE,
      BASE_URL: url,
    };
    const verdict = refusePublishedSecrets(config, rule(true, { loopbackOnly: sandboxOnly }));
    expect(verdict.refused).toEqual(keys);
    expect(verdict.message).toContain(`BASE_URL=${url}`);
    expect(verdict.message).not.toContain('DEV_MODE');
  });

  it.each(['https://127.0.0.1:8091', 'http://localhost:8090', 'https://[::1]:8091'])(
    'allows sandbox-only secrets against the loopback %s in development mode',
    (url) => {
      expect(
        refusePublishedSecrets({ ...all, BASE_URL: url }, rule(true, { loopbackOnly: sandboxOnly })).refused,
      ).toEqual([]);
    },
  );

  it('outside development mode, says both what to set and that the sandbox keys need a loopback URL', () => {
    const verdict = refusePublishedSecrets(
      { ...all, BASE_URL: 'https://api.mch.weixin.qq.com' },
      rule(false, { loopbackOnly: sandboxOnly }),
    );
    expect(verdict.refused).toEqual(['TOKEN_SECRET', 'SALT', 'CERT_FILE']);
    expect(verdict.message).toMatch(/DEV_MODE=true.*BASE_URL=https:\/\/api\.mch\.weixin\.qq\.com/);
  });

  it('allows a non-loopback URL with secrets of its own', () => {
    expect(
      refusePublishedSecrets(
        { ...own, BASE_URL: 'https://api.mch.weixin.qq.com' },
        rule(false, { loopbackOnly: sandboxOnly }),
      ).refused,
    ).toEqual([]);
  });
});

describe('DEV_MODE', () => {
  const schema = z.object(stackEnv);
  it.each([
    ['true', true],
    [undefined, false],
    ['false', false],
    ['1', false],
    ['TRUE', false],
    ['yes', false],
    ['', false],
  ])('DEV_MODE=%s is development mode: %s', (value, devMode) => {
    expect(loadConfig(schema, { DEV_MODE: value }).DEV_MODE).toBe(devMode);
  });
});
