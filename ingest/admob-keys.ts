// AdMob's verifier keys (`{"keys":[{"keyId":n,"pem":"...","base64":"..."}]}`), cached: loaded at
// start, refreshed every refreshMs (Google rotates them; its guide says cache at most a day), and
// re-fetched when a callback names a key_id the cache lacks, at most once per refetchMinMs. A failed
// load (unreachable, slow, too big, not a list, no usable key) keeps the keys already held.
import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { PipelineError } from '../common/errors.js';
import type { Logger } from '../common/log.js';

/** A key, or why there is none: 'unknown' (the list is current and lacks it), 'unavailable' (the list could not be loaded). */
export type KeyAnswer = { ok: true; key: KeyObject } | { ok: false; why: 'unknown' | 'unavailable' };
export interface AdmobKeyLookup {
  get(keyId: string): Promise<KeyAnswer>;
}

const isP256 = (k: KeyObject) => k.asymmetricKeyType === 'ec' && k.asymmetricKeyDetails?.namedCurve === 'prime256v1';

/**
 * The P-256 public keys of a verifier-key list by key id; throws a PipelineError for a list it cannot
 * read or that holds no usable key (as Google's verifier does), so a refresh never empties what is held.
 */
export function parseVerifierKeys(text: string): Map<string, KeyObject> {
  let list: unknown;
  try {
    list = (JSON.parse(text) as { keys?: unknown }).keys;
  } catch (cause) {
    throw new PipelineError('admob_keys_malformed', 'the AdMob verifier-key list is not JSON', {
      retriable: true,
      cause,
    });
  }
  if (!Array.isArray(list))
    throw new PipelineError('admob_keys_malformed', 'the AdMob verifier-key list has no "keys" array', {
      retriable: true,
    });
  const keys = new Map<string, KeyObject>();
  for (const entry of list as { keyId?: unknown; pem?: unknown; base64?: unknown }[]) {
    if (typeof entry?.keyId !== 'number' && typeof entry?.keyId !== 'string') continue;
    try {
      const key =
        typeof entry.pem === 'string'
          ? createPublicKey(entry.pem)
          : createPublicKey({ key: Buffer.from(String(entry.base64), 'base64'), format: 'der', type: 'spki' });
      if (isP256(key)) keys.set(String(entry.keyId), key);
    } catch {
      // a key this runtime cannot read verifies nothing; the others still do
    }
  }
  if (keys.size === 0)
    throw new PipelineError('admob_keys_empty', 'the AdMob verifier-key list holds no P-256 key', { retriable: true });
  return keys;
}

/** Far above Google's list (a few keys, about 1 KiB): a bigger answer is not a key list. */
export const MAX_KEYS_BYTES = 1024 * 1024;
const tooLarge = () =>
  new PipelineError('admob_keys_too_large', `the AdMob verifier-key list exceeds ${MAX_KEYS_BYTES} bytes`, {
    retriable: true,
  });

/**
 * The list's text from an https:// (or loopback http://) URL, or from a file:// URL (tests, the demo):
 * within timeoutMs, body included, and at most MAX_KEYS_BYTES (read no further).
 */
export async function readKeysText(url: string, timeoutMs: number): Promise<string> {
  if (url.startsWith('file:')) {
    const path = fileURLToPath(url);
    if ((await stat(path)).size > MAX_KEYS_BYTES) throw tooLarge();
    return readFile(path, 'utf8');
  }
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new PipelineError('admob_keys_http', `GET ${url} answered ${res.status}`, { retriable: true });
  }
  if (Number(res.headers.get('content-length') ?? 0) > MAX_KEYS_BYTES) {
    await res.body.cancel();
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > MAX_KEYS_BYTES) throw tooLarge(); // leaving the loop cancels the body
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function createAdmobKeys(
  config: { refreshMs: number; refetchMinMs: number },
  deps: { load(): Promise<string>; now(): number; log: Logger },
) {
  const log = deps.log.child({ mod: 'admob_keys' });
  let keys = new Map<string, KeyObject>();
  let loaded = false; // the last load succeeded
  let loading: Promise<void> | undefined;
  let lastAttemptMs = -Infinity;

  function refresh(): Promise<void> {
    lastAttemptMs = deps.now();
    loading ??= deps
      .load()
      .then(parseVerifierKeys)
      .then(
        (fresh) => {
          keys = fresh;
          loaded = true;
          log.info({ keys: fresh.size }, 'admob_keys_loaded');
        },
        (err: unknown) => {
          loaded = false;
          log.warn({ err, kept: keys.size }, 'admob_keys_load_failed');
        },
      )
      .finally(() => (loading = undefined));
    return loading;
  }

  const started = refresh();
  const timer = setInterval(() => void refresh(), config.refreshMs);
  timer.unref();

  const lookup: AdmobKeyLookup & { started: Promise<void>; readonly size: number; stop(): void } = {
    started,
    get size() {
      return keys.size;
    },
    async get(keyId) {
      let key = keys.get(keyId);
      if (!key && loading) {
        await loading;
        key = keys.get(keyId);
      }
      if (!key && deps.now() - lastAttemptMs >= config.refetchMinMs) {
        await refresh();
        key = keys.get(keyId);
      }
      return key ? { ok: true, key } : { ok: false, why: loaded ? 'unknown' : 'unavailable' };
    },
    stop: () => clearInterval(timer),
  };
  return lookup;
}
