import { describe, expect, it } from '@jest/globals';

import { uniquePrefix } from './unique-prefix.js';

describe('uniquePrefix', () => {
  it('slugs the label to lower-case [a-z0-9-], at most 12 characters, plus 6 random base36', () => {
    expect(uniquePrefix('Saga Orchestrator!')).toMatch(/^t-saga-orchest-[a-z0-9]{6}$/);
    expect(uniquePrefix('--Orders--')).toMatch(/^t-orders-[a-z0-9]{6}$/);
  });

  it('never ends the slug in a dash when truncating', () => {
    expect(uniquePrefix('abcdefghijk lmnop')).toMatch(/^t-abcdefghijk-[a-z0-9]{6}$/);
  });

  it('still works for a label with no usable characters', () => {
    expect(uniquePrefix('§§§')).toMatch(/^t-[a-z0-9]{6}$/);
  });

  it('is unique per call and valid as a NATS prefix and a database name part', () => {
    const prefixes = Array.from({ length: 2_000 }, () => uniquePrefix('orders'));
    expect(new Set(prefixes).size).toBe(prefixes.length);
    for (const p of prefixes) {
      expect(p).toMatch(/^[a-z0-9-]{1,21}$/);
      expect(p.replace(/-/g, '_')).toMatch(/^[a-z_][a-z0-9_]*$/);
    }
  });
});
