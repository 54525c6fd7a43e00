// The sandbox merchant's identity and secrets: the defaults of both the sandbox and the payouts
// service, so the two agree out of the box. Development values only; production sets its own.
import { join } from 'node:path';
import { root } from '../../common/root.js';

export const sandboxMerchant = {
  mchid: '1900000109',
  appid: 'wxd0000000sandbox',
  apiV2Key: 'sandboxApiV2Key0123456789abcdefA',
  apiV3Key: 'sandboxApiV3Key0123456789abcdefB',
  certDir: join(root, '.stack', 'wechatpay-sandbox'),
} as const;
