// The co-partitioned assigner in a real consumer group on the stack's broker: each member holds
// partition p of both topics or of neither, a member that leaves hands everything to the survivor,
// and topics of unequal partition counts stop the group instead of splitting a state partition.
import { afterAll, describe, expect, it } from 'vitest';
import type { Consumer } from 'kafkajs';
import { createKafka } from '../common/kafka.js';
import { ensureTopics } from '../schemas/migrate.js';
import { deleteTopics, env, silentLog, uniqueName, withAdmin } from '../test/support.js';
import { coPartitionedAssigner } from './assigner.js';

const kafka = createKafka({ KAFKA_BROKERS: env.KAFKA_BROKERS, clientId: 'assigner-test' }, { log: silentLog });
const made: string[] = [];
const groups: string[] = [];
const consumers: Consumer[] = [];

async function newTopic(partitions: number) {
  const name = uniqueName('copart');
  await ensureTopics([{ name, partitions, retentionMs: 3_600_000, key: 'user_id', value: '' }], {
    kafka,
    log: silentLog,
  });
  made.push(name);
  return name;
}

/** A member of `groupId` on `topics`; `latest` is its assignment after its last join. */
async function member(groupId: string, topics: string[]) {
  const consumer = kafka.consumer({
    groupId,
    partitionAssigners: [coPartitionedAssigner],
    heartbeatInterval: 300,
    maxWaitTimeInMs: 200,
  });
  consumers.push(consumer);
  const state = {
    latest: undefined as Record<string, number[]> | undefined,
    crash: undefined as { error: Error; restart: boolean } | undefined,
  };
  consumer.on(consumer.events.GROUP_JOIN, (e) => void (state.latest = e.payload.memberAssignment));
  consumer.on(
    consumer.events.CRASH,
    (e) => void (state.crash = { error: e.payload.error, restart: e.payload.restart }),
  );
  await consumer.connect();
  await consumer.subscribe({ topics });
  await consumer.run({ autoCommit: false, eachMessage: async () => {} });
  return { consumer, state };
}

async function until(check: () => boolean, what: string, timeoutMs = 30_000) {
  for (const deadline = Date.now() + timeoutMs; !check(); await new Promise((r) => setTimeout(r, 100))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

const sorted = (ps: number[] | undefined) => [...(ps ?? [])].sort((a, b) => a - b);
const all = Array.from({ length: 6 }, (_, p) => p);

afterAll(async () => {
  for (const c of consumers) await c.disconnect().catch(() => {});
  await withAdmin(kafka, (admin) => admin.deleteGroups(groups).catch(() => {}));
  await deleteTopics(kafka, made);
});

describe('the co-partitioned assigner in a consumer group', () => {
  it('gives each member partition p of both topics, and all of them to the member that stays', async () => {
    const [a, b] = [await newTopic(6), await newTopic(6)];
    const groupId = uniqueName('copart-group');
    groups.push(groupId);

    const first = await member(groupId, [a, b]);
    await until(() => sorted(first.state.latest?.[a]).length === 6, 'the first member to hold everything');
    const second = await member(groupId, [a, b]);
    const split = () => {
      const [x, y] = [first.state.latest, second.state.latest];
      return (
        !!x &&
        !!y &&
        sorted(x[a]).length + sorted(y[a]).length === 6 &&
        sorted(x[a]).length > 0 &&
        sorted(y[a]).length > 0
      );
    };
    await until(split, 'the two members to split the partitions');

    for (const m of [first, second]) {
      expect(sorted(m.state.latest![a])).toEqual(sorted(m.state.latest![b])); // co-partitioned
      expect(sorted(m.state.latest![a])).toHaveLength(3); // balanced
    }
    expect(sorted([...first.state.latest![a]!, ...second.state.latest![a]!])).toEqual(all);

    await second.consumer.disconnect();
    await until(() => sorted(first.state.latest?.[a]).length === 6, 'the survivor to hold everything');
    expect(sorted(first.state.latest![a])).toEqual(all);
    expect(sorted(first.state.latest![b])).toEqual(all);
    expect(first.state.crash).toBeUndefined();
  });

  it('stops the group, without restarting, when the topics have different partition counts', async () => {
    const [a, b] = [await newTopic(6), await newTopic(3)];
    const groupId = uniqueName('copart-group');
    groups.push(groupId);
    const m = await member(groupId, [a, b]);
    await until(() => m.state.crash !== undefined, 'the member to crash');
    expect(m.state.crash!.restart).toBe(false);
    expect(m.state.crash!.error).toMatchObject({ code: 'partition_counts_differ' });
    expect(m.state.crash!.error.message).toMatch(/same partition count/);
    expect(m.state.latest).toBeUndefined(); // never held a partition
  });
});
