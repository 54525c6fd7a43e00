import { describe, expect, it } from 'vitest';
import { isUuid, nameUuid } from './name-uuid.js';

describe('nameUuid', () => {
  // Ids already written (earnings, payouts) depend on these: the values must never change.
  it.each([
    ['', 'e3b0c442-98fc-8c14-9afb-f4c8996fb924'],
    ['earning:0b7f1c2e-4d3a-4f6b-9c1d-2e3f4a5b6c7d', 'a6dc1e6a-1a0d-8b7e-9da2-7d807b99f8e5'],
    ['用户-1', '1987e5af-37cf-892a-acc5-64e7d5743bee'],
  ])('derives the same UUID from %j as ever', (name, uuid) => {
    expect(nameUuid(name)).toBe(uuid);
  });

  it('gives canonical version-8 UUIDs with the RFC 9562 variant', () => {
    for (let i = 0; i < 200; i++) {
      const u = nameUuid(`name-${i}`);
      expect(isUuid(u)).toBe(true);
      expect(u[14]).toBe('8');
      expect('89ab').toContain(u[19]);
    }
  });
});
