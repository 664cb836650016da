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
const ORDER = {
  orderId: 'ord-1',
  placerOrderNumber: 'PLC-1',
  tests: [{ code: 'CBC' }],
  priority: 'routine',
};

describe('LIS simulator', () => {
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

  const place = (idempotencyKey: string | undefined, body: unknown = ORDER) =>
    sim.call({ method: 'POST', path: '/lis/orders', body, idempotencyKey });

  it('accepts an order once and replays the same answer for the same key', async () => {
    const first = await place('k-1');
    const second = await place('k-1');

    expect(first.status).toBe(201);
    expect(first.body).toEqual({
      lisOrderId: expect.stringMatching(/^LIS-/),
      status: 'accepted',
    });
    expect(second).toMatchObject({ status: 201, body: first.body });
    const stats = await sim.call({ method: 'GET', path: '/_sim/stats' });
    expect(stats.body).toMatchObject({
      lis: { received: 2, effects: 1, replays: 1, failuresInjected: 0 },
    });
    const requests = await sim.call({
      method: 'GET',
      path: '/_sim/requests?target=lis',
    });
    expect(requests.body).toMatchObject([
      {
        seq: expect.any(Number),
        method: 'POST',
        path: '/lis/orders',
        idempotencyKey: 'k-1',
        status: 201,
        replay: false,
        body: ORDER,
      },
      { idempotencyKey: 'k-1', status: 201, replay: true },
    ]);
  });

  it('answers 400 without an Idempotency-Key and records the request without effect', async () => {
    const res = await place(undefined);

    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'required',
          diagnostics: expect.any(String),
        },
      ],
    });
    const stats = await sim.call({ method: 'GET', path: '/_sim/stats' });
    expect(stats.body).toMatchObject({ lis: { received: 1, effects: 0 } });
  });

  it('rejects an order with test code REJECT with 422, also on replay', async () => {
    const body = { ...ORDER, tests: [{ code: 'CBC' }, { code: 'REJECT' }] };
    const first = await place('k-rej', body);
    const replay = await place('k-rej', body);

    expect(first).toMatchObject({
      status: 422,
      body: { reasonCode: 'LIS_REJECTED' },
    });
    expect(replay).toMatchObject({
      status: 422,
      body: { reasonCode: 'LIS_REJECTED' },
    });
    const stats = await sim.call({ method: 'GET', path: '/_sim/stats' });
    expect(stats.body).toMatchObject({ lis: { effects: 0, replays: 1 } });
  });

  it('refuses the same key with a different payload', async () => {
    await place('k-2');
    const res = await place('k-2', { ...ORDER, orderId: 'ord-other' });

    expect(res).toMatchObject({
      status: 422,
      body: { reasonCode: 'IDEMPOTENCY_KEY_REUSED' },
    });
  });

  it('answers 400 for an invalid order without echoing it', async () => {
    const res = await place('k-3', {
      ...ORDER,
      tests: [],
      placerOrderNumber: 'SECRET-VALUE',
    });

    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toContain('tests');
    expect(JSON.stringify(res.body)).not.toContain('SECRET-VALUE');
  });

  it('cancels an order idempotently, shows its state and answers 404 for unknown ids', async () => {
    const placed = await place('k-4');
    const { lisOrderId } = placed.body as { lisOrderId: string };
    const cancel = (key: string, id = lisOrderId) =>
      sim.call({
        method: 'POST',
        path: `/lis/orders/${id}/cancel`,
        idempotencyKey: key,
      });

    expect(await cancel('c-1')).toMatchObject({
      status: 200,
      body: { status: 'cancelled' },
    });
    expect(await cancel('c-1')).toMatchObject({
      status: 200,
      body: { status: 'cancelled' },
    });
    expect(await cancel('c-other')).toMatchObject({
      status: 200,
      body: { status: 'cancelled' },
    });
    expect(await cancel('c-2', 'LIS-unknown')).toMatchObject({
      status: 404,
      body: { reasonCode: 'LIS_ORDER_NOT_FOUND' },
    });
    const state = await sim.call({
      method: 'GET',
      path: `/lis/orders/${lisOrderId}`,
    });
    expect(state).toMatchObject({
      status: 200,
      body: { lisOrderId, orderId: 'ord-1', status: 'cancelled' },
    });
    const effects = await sim.call({
      method: 'GET',
      path: '/_sim/effects/lis',
    });
    expect(effects.body).toMatchObject({
      count: 2,
      byKey: { 'k-4': 1, 'c-1': 1 },
    });
  });
});
