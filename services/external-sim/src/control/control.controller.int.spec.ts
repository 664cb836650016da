import {
  afterAll,
  beforeAll,
  beforeEach,
  describe,
  expect,
  it,
} from '@jest/globals';

import { expectEventually } from '@lifeline/testing';

import { startSim } from '../testing/sim-harness.util.js';
import type { SimHarness } from '../testing/sim-harness.util.js';

// Real HTTP server on a loopback port, called with fetch; nothing is mocked.
const ORDER = {
  orderId: 'ord-1',
  placerOrderNumber: 'PLC-1',
  tests: [{ code: 'CBC' }],
  priority: 'stat',
};
const MESSAGE = {
  notificationId: 'n-1',
  kind: 'result-available',
  orderId: 'ord-1',
  patientKey: 'pk-0123456789',
  critical: false,
};

describe('sim control API and fault injection', () => {
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

  const addFault = (fault: Record<string, unknown>) =>
    sim.call({ method: 'POST', path: '/_sim/faults', body: fault });
  const placeOrder = (idempotencyKey: string, signal?: AbortSignal) =>
    sim.call({
      method: 'POST',
      path: '/lis/orders',
      body: ORDER,
      idempotencyKey,
      signal,
    });
  const stats = async () =>
    (await sim.call({ method: 'GET', path: '/_sim/stats' })).body;

  it('fails the next N requests, then lets the retry through with one effect', async () => {
    const fault = await addFault({ target: 'lis', mode: 'fail', count: 2 });
    expect(fault).toMatchObject({
      status: 201,
      body: { id: expect.any(String) },
    });

    const statuses = [];
    for (let i = 0; i < 3; i += 1)
      statuses.push((await placeOrder('k-1')).status);

    expect(statuses).toEqual([503, 503, 201]);
    expect(await stats()).toMatchObject({
      lis: { received: 3, effects: 1, replays: 0, failuresInjected: 2 },
    });
    const requests = await sim.call({
      method: 'GET',
      path: '/_sim/requests?target=lis&path=/lis/orders',
    });
    expect(requests.body).toMatchObject([
      { status: 503, fault: 'fail' },
      { status: 503, fault: 'fail' },
      { status: 201, fault: null },
    ]);
  });

  it('answers a configured failure status', async () => {
    await addFault({ target: 'ehr', mode: 'fail', status: 500, count: 1 });

    const res = await sim.call({
      method: 'POST',
      path: '/ehr/inbox/messages',
      body: MESSAGE,
      idempotencyKey: 'n-1',
    });

    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [{ code: 'transient' }],
    });
  });

  it('slows a request down by delayMs and still performs it', async () => {
    // Timing is asserted here because it is the fault injector's own contract.
    await addFault({ target: 'lis', mode: 'slow', delayMs: 150, count: 1 });

    const started = performance.now();
    const res = await placeOrder('k-slow');
    const elapsed = performance.now() - started;

    expect(res.status).toBe(201);
    expect(elapsed).toBeGreaterThanOrEqual(150);
    expect(await stats()).toMatchObject({ lis: { effects: 1, delayed: 1 } });
  });

  it('holds a timed-out request until the client gives up, with no effect', async () => {
    await addFault({ target: 'lis', mode: 'timeout', count: 1 });

    await expect(
      placeOrder('k-timeout', AbortSignal.timeout(200)),
    ).rejects.toMatchObject({ name: 'TimeoutError' });

    expect(await stats()).toMatchObject({
      lis: { received: 1, effects: 0, failuresInjected: 1 },
    });
    const requests = await sim.call({
      method: 'GET',
      path: '/_sim/requests?target=lis',
    });
    expect(requests.body).toMatchObject([
      { status: null, fault: 'timeout', idempotencyKey: 'k-timeout' },
    ]);
    // The fault was used up: the client's retry with the same key now succeeds.
    expect((await placeOrder('k-timeout')).status).toBe(201);
  });

  it('throttles with 429 and Retry-After', async () => {
    await addFault({
      target: 'ehr',
      mode: 'throttle',
      retryAfterSeconds: 7,
      count: 1,
    });

    const res = await sim.call({
      method: 'POST',
      path: '/ehr/inbox/messages',
      body: MESSAGE,
      idempotencyKey: 'n-1',
    });

    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(res.body).toMatchObject({ issue: [{ code: 'throttled' }] });
  });

  it('rejects with the target reason code while a reject fault lasts', async () => {
    await addFault({ target: 'lis', mode: 'reject', count: 1 });

    expect(await placeOrder('k-r')).toMatchObject({
      status: 422,
      body: { reasonCode: 'LIS_REJECTED' },
    });
    expect((await placeOrder('k-r')).status).toBe(201);
  });

  it('lists and clears faults', async () => {
    await addFault({ target: 'billing', mode: 'fail' });
    await addFault({ target: 'lis', mode: 'throttle', untilMs: 60_000 });

    const listed = await sim.call({ method: 'GET', path: '/_sim/faults' });
    expect(listed.body).toMatchObject([
      { target: 'billing', mode: 'fail', status: 503 },
      { target: 'lis', mode: 'throttle' },
    ]);
    expect(
      await sim.call({ method: 'DELETE', path: '/_sim/faults' }),
    ).toMatchObject({ status: 200, body: { cleared: 2 } });
    expect(
      (await sim.call({ method: 'GET', path: '/_sim/faults' })).body,
    ).toEqual([]);
  });

  it('refuses an invalid fault with an OperationOutcome', async () => {
    const res = await addFault({ target: 'lis', mode: 'slow' });

    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [{ code: 'invalid' }],
    });
    expect(JSON.stringify(res.body)).toContain('delayMs');
  });

  it('resets records, effects and faults', async () => {
    await placeOrder('k-1');
    await addFault({ target: 'lis', mode: 'fail' });

    await sim.call({ method: 'POST', path: '/_sim/reset' });

    expect(await stats()).toMatchObject({
      lis: { received: 0, effects: 0, replays: 0, failuresInjected: 0 },
    });
    expect(
      (await sim.call({ method: 'GET', path: '/_sim/requests' })).body,
    ).toEqual([]);
    expect(
      (await sim.call({ method: 'GET', path: '/_sim/faults' })).body,
    ).toEqual([]);
    expect(
      (await sim.call({ method: 'GET', path: '/_sim/effects/lis' })).body,
    ).toMatchObject({ count: 0 });
    // The old key is forgotten too: the same request is a new effect.
    expect((await placeOrder('k-1')).status).toBe(201);
    expect(await stats()).toMatchObject({ lis: { effects: 1, replays: 0 } });
  });

  it('answers malformed JSON with an OperationOutcome that does not echo the body', async () => {
    const res = await sim.call({
      method: 'POST',
      path: '/lis/orders',
      rawBody: '{"orderId": "SECRET-ORDER", oops',
      idempotencyKey: 'k-bad',
    });

    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'invalid',
          diagnostics: 'malformed JSON body',
        },
      ],
    });
    expect(JSON.stringify(res.body)).not.toContain('SECRET');
  });

  it('refuses a body over 256kb with 413', async () => {
    const res = await sim.call({
      method: 'POST',
      path: '/ehr/inbox/messages',
      body: { ...MESSAGE, padding: 'x'.repeat(300 * 1024) },
      idempotencyKey: 'n-big',
    });

    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [{ code: 'too-long' }],
    });
  });

  it('answers unknown routes and targets with OperationOutcomes', async () => {
    expect(await sim.call({ method: 'GET', path: '/nope' })).toMatchObject({
      status: 404,
      body: { issue: [{ code: 'not-found' }] },
    });
    expect(
      (await sim.call({ method: 'GET', path: '/_sim/effects/pager' })).status,
    ).toBe(400);
  });

  it('reports health', async () => {
    expect(
      await sim.call({ method: 'GET', path: '/health/live' }),
    ).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(
      await sim.call({ method: 'GET', path: '/health/ready' }),
    ).toMatchObject({ status: 200, body: { status: 'ok' } });
  });
});

describe('sim shutdown', () => {
  it('closes promptly while a timed-out request is still held', async () => {
    const sim = await startSim();
    await sim.call({
      method: 'POST',
      path: '/_sim/faults',
      body: { target: 'ehr', mode: 'timeout' },
    });
    const pending = sim.call({
      method: 'POST',
      path: '/ehr/inbox/messages',
      body: MESSAGE,
      idempotencyKey: 'n-held',
    });
    const outcome = pending.then(
      () => 'answered',
      () => 'cut',
    );
    await expectEventually(
      async () => {
        const requests = await sim.call({
          method: 'GET',
          path: '/_sim/requests?target=ehr',
        });
        expect(requests.body).toHaveLength(1);
      },
      { timeoutMs: 2_000, intervalMs: 10 },
    );

    await sim.close();

    expect(await outcome).toBe('cut');
  });
});
