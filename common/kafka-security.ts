// How every Kafka client of the project reaches a secured cluster: TLS (with a client certificate
// when the brokers ask for one), and SASL PLAIN or SCRAM (RFC 5802 with the SHA-256 and SHA-512
// hashes of RFC 7677), from the KAFKA_* settings (config.ts). The same settings drive kafkajs
// (consumers, admin) and the home-made producer (kafka-producer.ts), which carries the SASL
// conversation here itself.
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { ConfigError, type SaslMechanism } from './config.js';
import { PipelineError } from './errors.js';
import type { Logger } from './log.js';

export interface KafkaConnection {
  KAFKA_BROKERS: string[];
  KAFKA_SSL?: boolean;
  KAFKA_SSL_CA_FILE?: string | undefined;
  KAFKA_SSL_CERT_FILE?: string | undefined;
  KAFKA_SSL_KEY_FILE?: string | undefined;
  KAFKA_SASL_MECHANISM?: SaslMechanism | undefined;
  KAFKA_SASL_USERNAME?: string | undefined;
  KAFKA_SASL_PASSWORD?: string | undefined;
}
export interface Sasl {
  mechanism: SaslMechanism;
  username: string;
  password: string;
}
export interface KafkaSecurity {
  /** TLS options for tls.connect (kafkajs takes the same), or undefined for plain TCP. */
  ssl: ConnectionOptions | undefined;
  sasl: Sasl | undefined;
}

const pem = (key: string, file: string | undefined) => {
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${key}: cannot read ${file} (${(err as Error).message})`);
  }
};

/**
 * The connection settings as client options. A missing username or password, a certificate without
 * its key (or the reverse), or a file that cannot be read, is a ConfigError. PLAIN without TLS sends
 * the password in the clear: allowed (a private network may want it), with a warning on `log`.
 */
export function kafkaSecurity(c: KafkaConnection, log?: Logger): KafkaSecurity {
  const ca = pem('KAFKA_SSL_CA_FILE', c.KAFKA_SSL_CA_FILE);
  const cert = pem('KAFKA_SSL_CERT_FILE', c.KAFKA_SSL_CERT_FILE);
  const key = pem('KAFKA_SSL_KEY_FILE', c.KAFKA_SSL_KEY_FILE);
  if (!cert !== !key)
    throw new ConfigError('KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together (a client certificate and its key)');
  const ssl = c.KAFKA_SSL || ca || cert ? { ...(ca && { ca: [ca] }), ...(cert && { cert, key }) } : undefined;
  if (!c.KAFKA_SASL_MECHANISM) return { ssl, sasl: undefined };
  if (!c.KAFKA_SASL_USERNAME || !c.KAFKA_SASL_PASSWORD) {
    throw new ConfigError('KAFKA_SASL_MECHANISM needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD');
  }
  const sasl = { mechanism: c.KAFKA_SASL_MECHANISM, username: c.KAFKA_SASL_USERNAME, password: c.KAFKA_SASL_PASSWORD };
  if (sasl.mechanism === 'plain' && !ssl)
    log?.warn({ hint: 'set KAFKA_SSL=true, or use scram-sha-512' }, 'kafka_password_in_clear');
  return { ssl, sasl };
}

/** The broker's answer to a step, or a thrown error (a refusal). */
export type SaslAsk = (bytes: Buffer) => Promise<Buffer>;

/**
 * One SASL conversation: PLAIN sends the credentials once; SCRAM proves the password without sending
 * it, and checks the server's signature, so a broker that does not hold the credential is refused too.
 */
export async function saslAuthenticate(ask: SaslAsk, sasl: Sasl, nonce = randomBytes(18).toString('base64')) {
  if (sasl.mechanism === 'plain') {
    await ask(Buffer.from(`\0${sasl.username}\0${sasl.password}`));
    return;
  }
  const scram = scramClient(sasl.mechanism === 'scram-sha-256' ? 'sha256' : 'sha512', sasl, nonce);
  scram.verify(await ask(scram.final(await ask(scram.first))));
}

const refused = (why: string) => new PipelineError('kafka_sasl_failed', `SCRAM: ${why}`, { retriable: false });
const saslName = (s: string) => s.replaceAll('=', '=3D').replaceAll(',', '=2C');

/** SCRAM's three messages; exported for the RFC 7677 test vector. */
export function scramClient(hash: 'sha256' | 'sha512', creds: { username: string; password: string }, nonce: string) {
  const bare = `n=${saslName(creds.username)},r=${nonce}`;
  const hmac = (key: Buffer, text: string) => createHmac(hash, key).update(text).digest();
  let serverSignature: Buffer | undefined;
  return {
    first: Buffer.from(`n,,${bare}`),
    final(serverFirst: Buffer): Buffer {
      const text = serverFirst.toString();
      const attrs = new Map(text.split(',').map((kv) => [kv.slice(0, 1), kv.slice(2)]));
      const [serverNonce, salt, iterations] = [attrs.get('r') ?? '', attrs.get('s') ?? '', Number(attrs.get('i'))];
      if (!serverNonce.startsWith(nonce) || serverNonce.length === nonce.length || !salt) {
        throw refused(`the server's first message is malformed (${text.slice(0, 80)})`);
      }
      if (!Number.isInteger(iterations) || iterations < 4096) {
        throw refused(`the server asks for ${iterations} iterations (at least 4096)`);
      }
      const keyLength = hash === 'sha256' ? 32 : 64;
      const salted = pbkdf2Sync(creds.password, Buffer.from(salt, 'base64'), iterations, keyLength, hash);
      const clientKey = hmac(salted, 'Client Key');
      const withoutProof = `c=biws,r=${serverNonce}`;
      const authMessage = `${bare},${text},${withoutProof}`;
      const signature = hmac(createHash(hash).update(clientKey).digest(), authMessage);
      const proof = clientKey.map((b, i) => b ^ signature[i]!);
      serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
      return Buffer.from(`${withoutProof},p=${Buffer.from(proof).toString('base64')}`);
    },
    verify(serverFinal: Buffer): void {
      const text = serverFinal.toString();
      if (text.startsWith('e=')) throw refused(`the server refused (${text.slice(2)})`);
      const got = Buffer.from(text.startsWith('v=') ? text.slice(2) : '', 'base64');
      if (!serverSignature || got.length !== serverSignature.length || !timingSafeEqual(got, serverSignature)) {
        throw refused('the server did not prove it holds the credential');
      }
    },
  };
}
