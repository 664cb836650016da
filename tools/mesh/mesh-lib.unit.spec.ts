import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { databaseName, MESH_SERVICES, resolveServices } from './mesh-lib.mjs';

describe('databaseName', () => {
  it('is lifeline_<service> with - → _, behind the prefix when there is one', () => {
    expect(databaseName('saga-orchestrator')).toBe('lifeline_saga_orchestrator');
    expect(databaseName('orders', 't-e2e-k3j9x0')).toBe('t_e2e_k3j9x0_lifeline_orders');
  });

  it('stays within PostgreSQL’s 63-byte identifier limit for uniquePrefix-sized prefixes', () => {
    for (const s of MESH_SERVICES) expect(databaseName(s.name, 't-abcdefghijkl-abcdef').length).toBeLessThanOrEqual(63);
  });
});

describe('resolveServices', () => {
  const root = mkdtempSync(join(tmpdir(), 'mesh-lib-spec-'));
  for (const name of ['orders', 'external-sim', 'ingest-gateway']) {
    mkdirSync(join(root, 'services', name), { recursive: true });
    writeFileSync(join(root, 'services', name, 'package.json'), '{}');
  }
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('defaults to the services present, in start order (external-sim first, gateway last)', () => {
    expect(resolveServices(root).map((s) => s.name)).toEqual(['external-sim', 'orders', 'ingest-gateway']);
  });

  it('keeps start order for an explicit list and rejects unknown names', () => {
    expect(resolveServices(root, ['ingest-gateway', 'lab']).map((s) => s.name)).toEqual(['lab', 'ingest-gateway']);
    expect(() => resolveServices(root, ['no-such-service'])).toThrow(/unknown service\(s\): no-such-service/);
  });
});
