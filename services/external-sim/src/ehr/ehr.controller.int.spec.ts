import {
  afterAll,
  beforeAll,
  beforeEach,
  describe,
  expect,
  it,
} from '@jest/globals';

import { startSim } from '../testing/sim-harness.util.js';
import type { SimHarness } from '../testing/sim-harness.util.js';

// Real HTTP server on a loopback port, called with fetch; nothing is mocked.
const message = (notificationId: string) => ({
  notificationId,
  kind: 'critical-result',
  orderId: 'ord-1',
  patientKey: 'pk-0123456789',
  critical: true,
});

describe('EHR inbox simulator', () => {
  let sim: SimHarness;

  beforeAll(async () => {
    sim = await startSim();
  });
  afterAll(async () => {
    await sim.close();
  });
  beforeEach(async () => {
    await sim.call({ method: 'POST', path: '/_sim/reset' });
  });

  const deliver = (idempotencyKey: string | undefined, body: unknown) =>
    sim.call({
      method: 'POST',
      path: '/ehr/inbox/messages',
      body,
      idempotencyKey,
    });

  it('delivers a message once per idempotency key', async () => {
    const first = await deliver('n-1', message('n-1'));
    const retry = await deliver('n-1', message('n-1'));
    await deliver('n-2', message('n-2'));

    expect(first).toMatchObject({
      status: 201,
      body: { messageId: expect.any(String) },
    });
    expect(retry).toMatchObject({ status: 201, body: first.body });
    const effects = await sim.call({
      method: 'GET',
      path: '/_sim/effects/ehr',
    });
    expect(effects.body).toMatchObject({
      target: 'ehr',
      count: 2,
      byKey: { 'n-1': 1, 'n-2': 1 },
    });
    const delivered = (
      effects.body as {
        effects: { attributes: { notificationId: string }; replays: number }[];
      }
    ).effects;
    expect(
      delivered.filter((e) => e.attributes.notificationId === 'n-1'),
    ).toEqual([expect.objectContaining({ idempotencyKey: 'n-1', replays: 1 })]);
  });

  it('requires an Idempotency-Key', async () => {
    const res = await deliver(undefined, message('n-3'));

    expect(res.status).toBe(400);
    const stats = await sim.call({ method: 'GET', path: '/_sim/stats' });
    expect(stats.body).toMatchObject({ ehr: { received: 1, effects: 0 } });
  });
});
