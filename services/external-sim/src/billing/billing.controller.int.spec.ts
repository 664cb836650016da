import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import { startSim } from '../testing/sim-harness.util.js';
import type { SimHarness } from '../testing/sim-harness.util.js';

// Real HTTP server on a loopback port, called with fetch; nothing is mocked.
describe('billing simulator', () => {
  let sim: SimHarness;

  beforeAll(async () => {
    sim = await startSim();
  });
  afterAll(async () => {
    await sim.close();
  });

  it('posts a charge and voids it, both idempotently', async () => {
    const body = { orderId: 'ord-1', items: [{ code: 'CBC' }] };
    const charge = await sim.call({
      method: 'POST',
      path: '/billing/charges',
      body,
      idempotencyKey: 'b-1',
    });
    const replay = await sim.call({
      method: 'POST',
      path: '/billing/charges',
      body,
      idempotencyKey: 'b-1',
    });
    const { chargeId } = charge.body as { chargeId: string };
    const voidIt = () =>
      sim.call({
        method: 'POST',
        path: `/billing/charges/${chargeId}/void`,
        idempotencyKey: 'v-1',
      });

    expect(charge).toMatchObject({
      status: 201,
      body: { chargeId: expect.any(String), status: 'posted' },
    });
    expect(replay.body).toEqual(charge.body);
    expect(await voidIt()).toMatchObject({
      status: 200,
      body: { chargeId, status: 'voided' },
    });
    expect(await voidIt()).toMatchObject({
      status: 200,
      body: { chargeId, status: 'voided' },
    });
    const stats = await sim.call({ method: 'GET', path: '/_sim/stats' });
    expect(stats.body).toMatchObject({
      billing: { received: 4, effects: 2, replays: 2 },
    });
  });
});
