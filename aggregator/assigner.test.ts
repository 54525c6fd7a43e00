// The co-partitioned assignment as a pure function: partition p of every topic on one member,
// balanced, deterministic, and refused when the topics' partition counts differ.
import { describe, expect, it } from 'vitest';
import { PipelineError } from '../common/errors.js';
import { assignCoPartitioned } from './assigner.js';

const topicsOf = (partitions: number) => [
  { topic: 'beacons', partitions },
  { topic: 'confirmations', partitions },
];
const members = (n: number) =>
  Array.from({ length: n }, (_, i) => `member-${String.fromCharCode(97 + ((i * 7) % 26))}${i}`);

describe('assignCoPartitioned', () => {
  const table = [1, 2, 3, 4, 5, 6, 7, 12].flatMap((m) => [1, 2, 5, 6, 12].map((p) => [m, p] as const));

  it.each(table)('gives partition p of both topics to one member (%i members, %i partitions)', (m, p) => {
    const out = assignCoPartitioned(members(m), topicsOf(p));
    const owners = (topic: string) => {
      const byPartition = new Map<number, string[]>();
      for (const { memberId, assignment } of out)
        for (const q of assignment[topic]!) byPartition.set(q, [...(byPartition.get(q) ?? []), memberId]);
      return byPartition;
    };
    const [beacons, confirmations] = [owners('beacons'), owners('confirmations')];
    for (let q = 0; q < p; q++) {
      expect(beacons.get(q)).toHaveLength(1); // each partition exactly once
      expect(confirmations.get(q)).toEqual(beacons.get(q));
    }
    expect([...beacons.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: p }, (_, q) => q));
  });

  it.each(table)('balances partitions within one of each other (%i members, %i partitions)', (m, p) => {
    const counts = assignCoPartitioned(members(m), topicsOf(p)).map((a) => a.assignment.beacons!.length);
    expect(counts).toHaveLength(m); // every member listed, even with nothing
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    expect(counts.reduce((s, c) => s + c, 0)).toBe(p);
  });

  it('gives the same answer whatever order the members come in', () => {
    const ids = members(4);
    const once = assignCoPartitioned(ids, topicsOf(6));
    expect(assignCoPartitioned([...ids].reverse(), topicsOf(6))).toEqual(once);
    expect(assignCoPartitioned([ids[2]!, ids[0]!, ids[3]!, ids[1]!], topicsOf(6))).toEqual(once);
    expect(once.map((a) => a.memberId)).toEqual([...ids].sort());
  });

  it('spreads partitions over the members sorted by id', () => {
    expect(assignCoPartitioned(['b', 'a'], topicsOf(5))).toEqual([
      { memberId: 'a', assignment: { beacons: [0, 2, 4], confirmations: [0, 2, 4] } },
      { memberId: 'b', assignment: { beacons: [1, 3], confirmations: [1, 3] } },
    ]);
  });

  it('co-partitions a single topic and three topics alike', () => {
    expect(assignCoPartitioned(['x'], [{ topic: 't', partitions: 2 }])).toEqual([
      { memberId: 'x', assignment: { t: [0, 1] } },
    ]);
    const three = assignCoPartitioned(['x', 'y'], [...topicsOf(4), { topic: 'third', partitions: 4 }]);
    expect(three.map((a) => a.assignment)).toEqual([
      { beacons: [0, 2], confirmations: [0, 2], third: [0, 2] },
      { beacons: [1, 3], confirmations: [1, 3], third: [1, 3] },
    ]);
  });

  it.each([[[6, 12]], [[6, 5]], [[6, 0]], [[6, 6, 3]]])(
    'refuses topics whose partition counts differ (%j)',
    (counts) => {
      const topics = counts.map((partitions, i) => ({ topic: `topic-${i}`, partitions }));
      const refuse = () => assignCoPartitioned(members(2), topics);
      expect(refuse).toThrow(PipelineError);
      expect(refuse).toThrow(/same partition count \(topic-0: 6, topic-1: /);
      try {
        refuse();
      } catch (err) {
        expect(err).toMatchObject({ code: 'partition_counts_differ', retriable: false });
      }
    },
  );

  it('assigns nothing to no members', () => {
    expect(assignCoPartitioned([], topicsOf(6))).toEqual([]);
  });
});
