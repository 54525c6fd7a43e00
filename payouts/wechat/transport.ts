// HTTP(S) to WeChat Pay (or the sandbox): one keep-alive agent carrying the merchant certificate for
// mutual TLS (APIv2 transfers and queries need it), each call within the provider's rate limit. A
// network error or timeout is a retriable fault: the request may or may not have been carried out.
import http from 'node:http';
import https from 'node:https';
import { PipelineError } from '../../common/errors.js';
import { createRateLimit } from './rate-limit.js';

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}
export interface TlsOptions {
  ca?: (string | Buffer)[];
  cert?: Buffer;
  key?: Buffer;
  pfx?: Buffer;
  passphrase?: string;
}

/** The operation a path names, for metrics: request numbers replaced by {no}, query dropped. */
export const operation = (method: string, path: string) =>
  `${method} ${path.split('?')[0]!.replace(/\/(out-batch-no|out-detail-no|out-bill-no)\/[^/]+/g, '/$1/{no}')}`;

export function createTransport(
  config: { baseUrl: string; timeoutMs: number; tls: TlsOptions; callsPerSecond?: number },
  deps: { observe?(op: string, outcome: string): void } = {},
) {
  const base = new URL(config.baseUrl);
  const secure = base.protocol === 'https:';
  const agent = secure ? new https.Agent({ keepAlive: true, ...config.tls }) : new http.Agent({ keepAlive: true });
  const limit = config.callsPerSecond ? createRateLimit({ perSecond: config.callsPerSecond }) : undefined;
  return {
    async send(method: string, path: string, headers: Record<string, string>, body = ''): Promise<HttpAnswer> {
      await limit?.take();
      return new Promise((resolve, reject) => {
        const req = (secure ? https : http).request(
          {
            protocol: base.protocol,
            hostname: base.hostname,
            port: base.port,
            method,
            path,
            agent,
            timeout: config.timeoutMs,
            headers: { ...headers, ...(body ? { 'content-length': Buffer.byteLength(body) } : {}) },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => deps.observe?.(operation(method, path), String(res.statusCode)));
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                body: Buffer.concat(chunks),
                headers: Object.fromEntries(
                  Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]),
                ),
              }),
            );
            res.on('error', (err) =>
              reject(new PipelineError('wechat_unreachable', err.message, { retriable: true, cause: err })),
            );
          },
        );
        req.on('timeout', () => req.destroy(new Error(`no answer within ${config.timeoutMs} ms`)));
        req.on('error', () => deps.observe?.(operation(method, path), 'unreachable'));
        req.on('error', (err) =>
          reject(
            new PipelineError('wechat_unreachable', `${method} ${path}: ${err.message}`, {
              retriable: true,
              cause: err,
            }),
          ),
        );
        req.end(body);
      });
    },
    close: () => agent.destroy(),
  };
}
export type Transport = ReturnType<typeof createTransport>;
