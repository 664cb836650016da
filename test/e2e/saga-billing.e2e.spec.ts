import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';

import { ackCode, expectEventually, hl7Orm, hl7Oru, sendMllp, testAdminDatabaseUrl, testNatsUrl, uniquePrefix } from '@lifeline/testing';

// The whole mesh as real processes (billing included) on the run's NATS and PostgreSQL; external-sim
// plays LIS, EHR inbox and billing. Black box: MLLP in; orders, saga inspector and sim records out.
import { startMesh, type MeshHandle } from '../../tools/mesh/mesh-lib.mjs';

const ROOT = new URL('../..', import.meta.url).pathname;

interface SimEffects {
  effects: Array<{ idempotencyKey: string; operation: string; resourceId: string; attributes: Record<string, unknown> }>;
}
interface SagaSummary {
  sagaId: string;
  orderId: string;
  status: string;
  attention: { reason: string; failures: Array<{ step: string; code: string }> } | null;
}
interface SagaDetail {
  saga: SagaSummary;
  history: Array<{ inputType: string; toStatus: string; at: string; messageId: string | null; traceId: string | null }>;
}

describe('lab-order saga with billing, end to end', () => {
  let mesh: MeshHandle;
  const prefix = uniquePrefix('e2e-bill');
  const logsDir = join(ROOT, '.mesh', 'test-logs', prefix);
  const patientId = `MRN-${prefix}`;
  let seq = 0;

  async function http<T>(service: string, path: string, init?: RequestInit): Promise<T> {
    const res = await fetch(`${mesh.endpoints.http[service]}${path}`, init);
    if (!res.ok) throw new Error(`${service} ${path} → ${res.status}`);
    return (await res.json()) as T;
  }
  const post = (service: string, path: string, body: unknown): Promise<unknown> =>
    http(service, path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  async function send(message: string): Promise<void> {
    const ack = await sendMllp({ host: mesh.endpoints.mllp.host, port: mesh.endpoints.mllp.port, message, timeoutMs: 15_000 });
    expect(ackCode(ack)).toBe('AA');
  }

  /** Places an order and waits until the orders service knows its id. */
  async function place(placer: string): Promise<string> {
    await send(hl7Orm({ controlId: `${prefix}-${++seq}`, placerOrderNumber: placer, patientId, testCode: 'K' }));
    return expectEventually(
      async () => {
        const { orders } = await http<{ orders: Array<{ orderId: string }> }>('orders', `/orders?placerOrderNumber=${placer}`);
        expect(orders).toHaveLength(1);
        return (orders[0] as { orderId: string }).orderId;
      },
      { timeoutMs: 30_000 },
    );
  }
  const result = (placer: string): Promise<void> =>
    send(hl7Oru({ controlId: `${prefix}-${++seq}`, placerOrderNumber: placer, patientId, testCode: 'K', observations: [{ code: 'K', value: 4.1, units: 'mmol/L', range: '3.5-5.1' }] }));
  const cancel = (placer: string): Promise<void> =>
    send(hl7Orm({ controlId: `${prefix}-${++seq}`, placerOrderNumber: placer, patientId, testCode: 'K', orderControl: 'CA' }));

  const saga = (orderId: string): Promise<SagaDetail> => http<SagaDetail>('saga-orchestrator', `/sagas/${encodeURIComponent(orderId)}`);
  const sagaIn = (orderId: string, status: string, timeoutMs = 60_000): Promise<SagaDetail> =>
    expectEventually(
      async () => {
        const d = await saga(orderId);
        expect(d.saga.status).toBe(status);
        return d;
      },
      { timeoutMs },
    );
  const effectsFor = async (target: 'lis' | 'ehr' | 'billing', orderId: string): Promise<SimEffects['effects']> =>
    (await http<SimEffects>('external-sim', `/_sim/effects/${target}`)).effects.filter((e) => JSON.stringify(e).includes(orderId));
  const placerOf = (name: string): string => `${name}${prefix.replace(/[^a-z0-9]/g, '').slice(-9)}`;

  beforeAll(async () => {
    mkdirSync(logsDir, { recursive: true });
    mesh = await startMesh({ root: ROOT, natsUrl: testNatsUrl(), adminDatabaseUrl: testAdminDatabaseUrl(), prefix, logsDir, env: { LOG_LEVEL: 'info' } });
  }, 180_000);

  afterEach(async () => {
    await fetch(`${mesh.endpoints.http['external-sim']}/_sim/faults`, { method: 'DELETE' });
  });

  afterAll(async () => {
    await mesh?.stop();
  });

  it('happy path: completes and bills exactly once', async () => {
    const placer = placerOf('H');
    const orderId = await place(placer);
    await sagaIn(orderId, 'awaiting-result', 30_000);
    await result(placer);

    const done = await sagaIn(orderId, 'completed');
    expect(done.history.map((h) => h.toStatus)).toEqual(expect.arrayContaining(['awaiting-notification', 'awaiting-billing', 'completed']));
    expect(done.history.every((h) => h.at !== '' && h.inputType !== '')).toBe(true);
    const charges = (await effectsFor('billing', orderId)).filter((e) => e.attributes.action === 'charge');
    expect(charges).toHaveLength(1);
    await expectEventually(async () => {
      const { charges: rows } = await http<{ charges: Array<{ chargeId: string; status: string }> }>('billing', `/charges?orderId=${orderId}`);
      expect(rows).toEqual([expect.objectContaining({ chargeId: charges[0]?.resourceId, status: 'posted' })]);
    });
  });

  it('cancel after acceptance: the LIS order is cancelled, nothing is charged', async () => {
    const placer = placerOf('C');
    const orderId = await place(placer);
    await sagaIn(orderId, 'awaiting-result', 30_000);
    await cancel(placer);

    const done = await sagaIn(orderId, 'cancelled');
    expect(done.history.map((h) => h.inputType)).toEqual(expect.arrayContaining(['CancelRequested', 'LabCancelled']));
    expect((await effectsFor('lis', orderId)).filter((e) => e.attributes.action === 'cancel')).toHaveLength(1);
    expect(await effectsFor('billing', orderId)).toEqual([]);
  });

  it('billing refusing for good: the clinician is notified and the saga ends completed-billing-failed', async () => {
    await post('external-sim', '/_sim/faults', { target: 'billing', mode: 'reject' });
    const placer = placerOf('F');
    const orderId = await place(placer);
    await sagaIn(orderId, 'awaiting-result', 30_000);
    await result(placer);

    const done = await sagaIn(orderId, 'completed-billing-failed');
    expect(done.saga.attention).toEqual({ reason: 'billing-failed', failures: [{ step: 'create-charge', code: 'BILLING_REJECTED' }] });
    expect((await effectsFor('ehr', orderId)).length).toBeGreaterThanOrEqual(1);
    expect(await effectsFor('billing', orderId)).toEqual([]);
    const listed = await http<{ sagas: SagaSummary[] }>('saga-orchestrator', `/sagas?status=completed-billing-failed&orderId=${orderId}`);
    expect(listed.sagas.map((s) => s.sagaId)).toEqual([orderId]);
  });

  it('a compensation the LIS refuses: needs-attention with the reason, listed by the inspector', async () => {
    const placer = placerOf('N');
    const orderId = await place(placer);
    await sagaIn(orderId, 'awaiting-result', 30_000);
    await post('external-sim', '/_sim/faults', { target: 'lis', mode: 'reject', pathPrefix: '/lis/orders/' });
    await cancel(placer);

    const done = await sagaIn(orderId, 'needs-attention');
    expect(done.saga.attention).toEqual({ reason: 'compensation-failed', failures: [{ step: 'cancel-at-lab', code: 'LIS_REQUEST_INVALID' }] });
    const listed = await http<{ sagas: SagaSummary[] }>('saga-orchestrator', '/sagas?status=needs-attention');
    expect(listed.sagas.map((s) => s.sagaId)).toContain(orderId);
    const stats = await http<{ counts: Record<string, number> }>('saga-orchestrator', '/sagas/stats');
    expect(stats.counts['needs-attention']).toBeGreaterThanOrEqual(1);
    const metrics = await fetch(`${mesh.endpoints.http['saga-orchestrator']}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/saga_needs_attention_total\{saga_type="lab-order"[^}]*\} [1-9]/);
  });
});
