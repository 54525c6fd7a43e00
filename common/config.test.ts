import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { loadConfig, port, stackEnv, withDatabase } from './config.js';

const schema = z.object({ ...stackEnv, COLLECTOR_PORT: port(8080) });

describe('loadConfig', () => {
  it('fills the local-stack defaults', () => {
    const c = loadConfig(schema, {});
    expect(c.KAFKA_BROKERS).toEqual(['127.0.0.1:19092']);
    expect(c.COLLECTOR_PORT).toBe(8080);
    expect(c.DATABASE_URL).toBe('postgres://ads:ads@127.0.0.1:15432/ads');
  });

  it.each([
    [{ COLLECTOR_PORT: 'eighty' }, /COLLECTOR_PORT/],
    [{ COLLECTOR_PORT: '70000' }, /COLLECTOR_PORT/],
    [{ COLLECTOR_PORT: '-1' }, /COLLECTOR_PORT/],
    [{ CLICKHOUSE_URL: 'not a url' }, /CLICKHOUSE_URL/],
    [{ CLICKHOUSE_DATABASE: 'ads; drop' }, /CLICKHOUSE_DATABASE/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
  ])('names the env key of a bad value: %o', (env, key) => {
    expect(() => loadConfig(schema, env)).toThrow(key);
  });

  it('splits broker lists', () => {
    expect(loadConfig(schema, { KAFKA_BROKERS: 'a:1, b:2,' }).KAFKA_BROKERS).toEqual(['a:1', 'b:2']);
  });
});

describe('withDatabase', () => {
  it('keeps the server, user and password and swaps the database', () => {
    expect(withDatabase('postgres://ads:s%40cret@127.0.0.1:15432/ads?sslmode=disable', 'postgres')).toBe(
      'postgres://ads:s%40cret@127.0.0.1:15432/postgres?sslmode=disable',
    );
  });
});
