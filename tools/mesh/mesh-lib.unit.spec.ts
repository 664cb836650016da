import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { databaseName, MESH_SERVICES, planPorts, resolveServices } from './mesh-lib.mjs';

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

describe('planPorts', () => {
  // a picker that offers the same port again, as two random picks in 10000-19999 can
  const picker = (offers: number[]) => {
    const asked: Array<number | undefined> = [];
    return { asked, pick: async (preferred?: number): Promise<number> => (asked.push(preferred), offers.shift() ?? 65_000) };
  };

  it('gives every service and the MLLP listener a port of its own, re-picking one already planned', async () => {
    const services = MESH_SERVICES.filter((s) => ['orders', 'saga-orchestrator', 'ingest-gateway'].includes(s.name));
    const { pick } = picker([18_219, 18_220, 18_220, 18_221, 18_219, 18_222]);
    const plan = await planPorts(services, false, pick);
    const ports = [...Object.values(plan.http), plan.mllpPort];
    expect(new Set(ports).size).toBe(ports.length);
    expect(ports.sort()).toEqual([18_219, 18_220, 18_221, 18_222]);
  });

  it('asks for the preferred port first and for any port on a re-pick', async () => {
    const services = MESH_SERVICES.filter((s) => ['orders', 'ingest-gateway'].includes(s.name));
    const { asked, pick } = picker([3_101, 3_101, 3_200, 2_575]);
    const plan = await planPorts(services, true, pick);
    expect(plan).toEqual({ http: { orders: 3_101, 'ingest-gateway': 3_200 }, mllpPort: 2_575 });
    // orders and the gateway ask for their preferred ports, the gateway's re-pick for any, MLLP for its own
    expect(asked.map((p) => typeof p)).toEqual(['number', 'number', 'undefined', 'number']);
  });
});
