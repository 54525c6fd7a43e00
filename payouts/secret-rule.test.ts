// payouts' published secrets: each refused outside development mode, and the sandbox merchant's
// refused even in development against a WeChat Pay that is not loopback.
import { describe, expect, it } from 'vitest';
import { loadConfig, refusePublishedSecrets } from '../common/config.js';
import { payoutsConfig, payoutsSecretRule } from './config.js';
import { sandboxMerchant } from './sandbox/defaults.js';

const own = {
  PAYOUTS_OPERATOR_TOKEN: 'own-operator-token-0123',
  REWARDS_TOKEN_SECRET: 't'.repeat(40),
  REWARDS_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
  WECHATPAY_MCHID: '1230000109',
  WECHATPAY_API_V2_KEY: 'r'.repeat(32),
  WECHATPAY_API_V3_KEY: 's'.repeat(32),
  WECHATPAY_CERT_FILE: '/etc/wechatpay/apiclient_cert.pem',
  WECHATPAY_KEY_FILE: '/etc/wechatpay/apiclient_key.pem',
  WECHATPAY_PLATFORM_CERT_FILES: '',
  WECHATPAY_CA_FILE: '',
  WECHATPAY_BASE_URL: 'https://api.mch.weixin.qq.com',
};
const verdict = (env: Record<string, string | undefined>) => {
  const config = loadConfig(payoutsConfig, env);
  return refusePublishedSecrets(config, payoutsSecretRule(config));
};
const sandboxKeys = [
  'WECHATPAY_MCHID',
  'WECHATPAY_API_V2_KEY',
  'WECHATPAY_API_V3_KEY',
  'WECHATPAY_CERT_FILE',
  'WECHATPAY_KEY_FILE',
  'WECHATPAY_PLATFORM_CERT_FILES',
  'WECHATPAY_CA_FILE',
];
const published = ['REWARDS_TOKEN_SECRET', 'REWARDS_ENCRYPTION_KEY', 'PAYOUTS_OPERATOR_TOKEN', ...sandboxKeys];

describe('payouts secret rule', () => {
  it.each(published)('refuses the published %s outside development mode', (key) => {
    expect(verdict({ ...own, [key]: undefined }).refused).toEqual([key]);
  });

  it('refuses a sandbox file named explicitly, and a .p12 from the sandbox', () => {
    const { certDir } = sandboxMerchant;
    expect(
      verdict({ ...own, WECHATPAY_PUBLIC_KEY_FILE: `${certDir}/pubkey.pem`, WECHATPAY_PUBLIC_KEY_ID: 'PUB_KEY_ID_1' })
        .refused,
    ).toEqual(['WECHATPAY_PUBLIC_KEY_FILE']);
    expect(
      verdict({ ...own, WECHATPAY_P12_FILE: `${certDir}/../wechatpay-sandbox/apiclient_cert.p12` }).refused,
    ).toEqual(['WECHATPAY_P12_FILE']);
  });

  it('ignores the PEM pair defaults when a .p12 of its own replaces them', () => {
    expect(
      verdict({
        ...own,
        WECHATPAY_CERT_FILE: undefined,
        WECHATPAY_KEY_FILE: undefined,
        WECHATPAY_P12_FILE: '/etc/wechatpay/apiclient_cert.p12',
      }).refused,
    ).toEqual([]);
  });

  it.each([undefined, 'true'])('allows a real merchant with secrets of its own (DEV_MODE=%s)', (devMode) => {
    expect(verdict({ ...own, DEV_MODE: devMode })).toEqual({ refused: [], inUse: [], message: '' });
  });

  it('allows every published secret in development mode against the local sandbox, listing them', () => {
    const v = verdict({ DEV_MODE: 'true' });
    expect(v.refused).toEqual([]);
    expect([...v.inUse].sort()).toEqual([...published].sort());
  });

  it.each(['https://api.mch.weixin.qq.com', 'https://10.0.0.8:8091', 'https://127.0.0.1.nip.io'])(
    'refuses the sandbox merchant against %s even in development mode',
    (url) => {
      const v = verdict({ DEV_MODE: 'true', WECHATPAY_BASE_URL: url });
      expect(v.refused).toEqual(sandboxKeys);
      expect(v.message).toContain(`WECHATPAY_BASE_URL=${url}`);
    },
  );

  it("refuses one sandbox file left in a real merchant's setup against WeChat, even in development mode", () => {
    expect(verdict({ ...own, DEV_MODE: 'true', WECHATPAY_CA_FILE: undefined }).refused).toEqual(['WECHATPAY_CA_FILE']);
  });
});
