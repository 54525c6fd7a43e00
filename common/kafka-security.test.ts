import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from './config.js';
import { PipelineError } from './errors.js';
import { kafkaSecurity, saslAuthenticate, scramClient } from './kafka-security.js';
import { capturingLog } from '../test/support.js';

// RFC 7677 section 3: user "user", password "pencil".
const nonce = 'rOprNGfwEbeRWgbNEkqO';
const serverFirst = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';
const clientFinal =
  'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=';
const serverFinal = 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=';

describe('SCRAM', () => {
  it('reproduces the RFC 7677 SCRAM-SHA-256 exchange', async () => {
    const sent: string[] = [];
    const answers = [serverFirst, serverFinal];
    await saslAuthenticate(
      async (bytes) => (sent.push(bytes.toString()), Buffer.from(answers.shift()!)),
      { mechanism: 'scram-sha-256', username: 'user', password: 'pencil' },
      nonce,
    );
    expect(sent).toEqual([`n,,n=user,r=${nonce}`, clientFinal]);
  });

  it('refuses a server that does not prove it holds the credential', () => {
    const scram = scramClient('sha256', { username: 'user', password: 'not-pencil' }, nonce);
    scram.final(Buffer.from(serverFirst));
    expect(() => scram.verify(Buffer.from(serverFinal))).toThrow(/did not prove/);
  });

  it('refuses a server nonce that does not extend its own, and too few iterations', () => {
    const creds = { username: 'user', password: 'pencil' };
    expect(() => scramClient('sha256', creds, nonce).final(Buffer.from('r=someone-else,s=AAAA,i=4096'))).toThrow(
      PipelineError,
    );
    expect(() => scramClient('sha256', creds, nonce).final(Buffer.from(`r=${nonce}x,s=AAAA,i=1`))).toThrow(
      /1 iterations/,
    );
  });

  it('escapes "=" and "," in a username', () => {
    const scram = scramClient('sha512', { username: 'a=b,c', password: 'p' }, 'n0');
    expect(scram.first.toString()).toBe('n,,n=a=3Db=2Cc,r=n0');
  });

  it('sends PLAIN as authzid, username and password between NULs', async () => {
    const sent: Buffer[] = [];
    await saslAuthenticate(async (b) => (sent.push(b), Buffer.alloc(0)), {
      mechanism: 'plain',
      username: 'ads',
      password: 's3cret',
    });
    expect(sent).toEqual([Buffer.from('\0ads\0s3cret')]);
  });
});

describe('kafkaSecurity', () => {
  const brokers = ['b:9094'];
  it('is plain TCP without settings', () => {
    expect(kafkaSecurity({ KAFKA_BROKERS: brokers })).toEqual({ ssl: undefined, sasl: undefined });
  });

  it('reads the CA file, which implies TLS', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'kafka-ca-')), 'ca.pem');
    writeFileSync(file, 'PEM');
    expect(kafkaSecurity({ KAFKA_BROKERS: brokers, KAFKA_SSL_CA_FILE: file }).ssl).toEqual({ ca: ['PEM'] });
    expect(kafkaSecurity({ KAFKA_BROKERS: brokers, KAFKA_SSL: true }).ssl).toEqual({});
  });

  it('adds a client certificate with its key, and refuses one without the other', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kafka-cert-'));
    writeFileSync(join(dir, 'c.pem'), 'CERT');
    writeFileSync(join(dir, 'c.key'), 'KEY');
    const files = { KAFKA_SSL_CERT_FILE: join(dir, 'c.pem'), KAFKA_SSL_KEY_FILE: join(dir, 'c.key') };
    expect(kafkaSecurity({ KAFKA_BROKERS: brokers, ...files }).ssl).toEqual({ cert: 'CERT', key: 'KEY' });
    expect(() => kafkaSecurity({ KAFKA_BROKERS: brokers, KAFKA_SSL_CERT_FILE: files.KAFKA_SSL_CERT_FILE })).toThrow(
      /go together/,
    );
  });

  it('warns when PLAIN would send the password in the clear, and only then', () => {
    const { log, lines } = capturingLog();
    const plain = { KAFKA_BROKERS: brokers, KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' };
    kafkaSecurity({ ...plain, KAFKA_SASL_MECHANISM: 'plain', KAFKA_SSL: true }, log);
    kafkaSecurity({ ...plain, KAFKA_SASL_MECHANISM: 'scram-sha-512' }, log);
    expect(lines).toEqual([]);
    kafkaSecurity({ ...plain, KAFKA_SASL_MECHANISM: 'plain' }, log);
    expect(lines).toEqual([expect.objectContaining({ level: 40, msg: 'kafka_password_in_clear' })]);
  });

  it('names what is missing or unreadable', () => {
    expect(() => kafkaSecurity({ KAFKA_BROKERS: brokers, KAFKA_SSL_CA_FILE: '/nowhere/ca.pem' })).toThrow(ConfigError);
    expect(() =>
      kafkaSecurity({ KAFKA_BROKERS: brokers, KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: 'u' }),
    ).toThrow(/KAFKA_SASL_PASSWORD/);
  });
});
