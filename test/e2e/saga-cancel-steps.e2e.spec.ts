import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';

import { ackCode, expectEventually, hl7Orm, hl7Oru, sendMllp, testAdminDatabaseUrl, testNatsUrl, uniquePrefix } from '@lifeline/testing';

// The whole mesh as real processes on the run's NATS and PostgreSQL; external-sim plays LIS, EHR inbox
// and billing. Each case holds one order at one saga step (a sim fault on the next call, or simply no
// next input yet), cancels it there, and reads the outcome from the sim's effects, the saga inspector
// and the orders service: black box, MLLP in.
import { startMesh, type MeshHandle } from '../../tools/mesh/mesh-lib.mjs';

const ROOT = new URL('../..', import.meta.url).pathname;

type Target = 'lis' | 'ehr' | 'billing';

interface SimEffect {
  idempotencyKey: string;
  operation: string;
  resourceId: string;
  attributes: Record<string, unknown>;
}
interface SimRequest {
  path: string;
  fault: string | null;
  body: unknown;
}
interface HistoryEntry {
  inputType: string;
  fromStatus: string | null;
  toStatus: string;
  ignored: string | null;
  commands: Array<{ subject: string; commandId: string }>;
  at: string;
}
interface SagaDetail {
  saga: { sagaId: string; status: string };
  history: HistoryEntry[];
}
interface OrderView {
  order: { orderId: string; status: string; cancelRequested: boolean };
}

describe('lab-order saga: cancel at each step leaves no charge and a cancelled LIS order', () => {
  let mesh: MeshHandle;
  const prefix = uniquePrefix('e2e-cancel');
  const logsDir = join(ROOT, '.mesh', 'test-logs', prefix);
  // One patient per order: the orders service parks a patient's later messages behind a dead-lettered
  // one (e.g. the too-late cancel), so sharing a patient would couple the cases.
  const patientOf = (placer: string): string => `MRN-${placer}`;
  let seq = 0;

  async function http<T>(service: string, path: string, init?: RequestInit): Promise<T> {
    const res = await fetch(`${mesh.endpoints.http[service]}${path}`, init);
    if (!res.ok) throw new Error(`${service} ${path} → ${res.status}`);
    return (await res.json()) as T;
  }

  // Faults are global per target in the sim: each case adds its own, and afterEach clears them, so a
  // fault never outlives the one order it was meant for (cases run one after the other).
  const addFault = (fault: { target: Target; mode: 'timeout'; pathPrefix: string }): Promise<unknown> =>
    http('external-sim', '/_sim/faults', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(fault) });
  const releaseFaults = (): Promise<unknown> => http('external-sim', '/_sim/faults', { method: 'DELETE' });

  async function send(message: string): Promise<void> {
    const ack = await sendMllp({ host: mesh.endpoints.mllp.host, port: mesh.endpoints.mllp.port, message, timeoutMs: 15_000 });
    expect(ackCode(ack)).toBe('AA');
  }

  /** Places an order over MLLP and waits until the orders service knows its id. */
  async function place(placer: string): Promise<string> {
    await send(hl7Orm({ controlId: `${prefix}-${++seq}`, placerOrderNumber: placer, patientId: patientOf(placer), testCode: 'K' }));
    return expectEventually(
      async () => {
        const { orders } = await http<{ orders: Array<{ orderId: string }> }>('orders', `/orders?placerOrderNumber=${placer}`);
        expect(orders).toHaveLength(1);
        return (orders[0] as { orderId: string }).orderId;
      },
      { timeoutMs: 30_000, message: `order ${placer} known to the orders service` },
    );
  }
  const result = (placer: string): Promise<void> =>
    send(hl7Oru({ controlId: `${prefix}-${++seq}`, placerOrderNumber: placer, patientId: patientOf(placer), testCode: 'K', observations: [{ code: 'K', value: 4.1, units: 'mmol/L', range: '3.5-5.1' }] }));
  const cancel = (placer: string): Promise<void> =>
    send(hl7Orm({ controlId: `${prefix}-${++seq}`, placerOrderNumber: placer, patientId: patientOf(placer), testCode: 'K', orderControl: 'CA' }));

  const saga = (orderId: string): Promise<SagaDetail> => http<SagaDetail>('saga-orchestrator', `/sagas/${encodeURIComponent(orderId)}`);
  const sagaIn = (orderId: string, status: string, timeoutMs = 60_000): Promise<SagaDetail> =>
    expectEventually(
      async () => {
        const d = await saga(orderId);
        expect(d.saga.status).toBe(status);
        return d;
      },
      { timeoutMs, message: `saga ${orderId} reaches ${status}` },
    );
  /** Waits until the saga applied the cancel and returns that history entry. */
  const cancelApplied = (orderId: string): Promise<HistoryEntry> =>
    expectEventually(
      async () => {
        const entry = (await saga(orderId)).history.find((h) => h.inputType === 'CancelRequested');
        expect(entry).toBeDefined();
        return entry as HistoryEntry;
      },
      { timeoutMs: 30_000, message: `saga ${orderId} applied the cancel` },
    );

  const effectsFor = async (target: Target, orderId: string): Promise<SimEffect[]> =>
    (await http<{ effects: SimEffect[] }>('external-sim', `/_sim/effects/${target}`)).effects.filter((e) => e.attributes.orderId === orderId);
  const lisPlacements = async (orderId: string): Promise<SimEffect[]> => (await effectsFor('lis', orderId)).filter((e) => e.operation === 'lis.place-order');
  const lisCancels = async (orderId: string): Promise<SimEffect[]> => (await effectsFor('lis', orderId)).filter((e) => e.attributes.action === 'cancel');
  const billing = async (orderId: string, action: 'charge' | 'void'): Promise<SimEffect[]> => (await effectsFor('billing', orderId)).filter((e) => e.attributes.action === action);
  const ehrKinds = async (orderId: string): Promise<unknown[]> => (await effectsFor('ehr', orderId)).map((e) => e.attributes.kind);

  /** Waits until the sim holds a request of this order on `path` with an injected timeout. */
  const held = (target: Target, path: string, orderId: string): Promise<SimRequest> =>
    expectEventually(
      async () => {
        const requests = await http<SimRequest[]>('external-sim', `/_sim/requests?target=${target}&path=${encodeURIComponent(path)}`);
        const request = requests.find((r) => r.fault === 'timeout' && (r.body as { orderId?: unknown } | null)?.orderId === orderId);
        expect(request).toBeDefined();
        return request as SimRequest;
      },
      { timeoutMs: 30_000, message: `${target} ${path} of ${orderId} held by the sim` },
    );

  const orderStatus = async (orderId: string): Promise<string> => (await http<OrderView>('orders', `/orders/${encodeURIComponent(orderId)}`)).order.status;
  const orderIn = (orderId: string, status: string): Promise<void> =>
    expectEventually(async () => expect(await orderStatus(orderId)).toBe(status), { timeoutMs: 30_000, message: `order ${orderId} is ${status}` });

  const placerOf = (name: string): string => `${name}${prefix.replace(/[^a-z0-9]/g, '').slice(-9)}`;
  const inputTypes = (d: SagaDetail): string[] => d.history.map((h) => h.inputType);

  /** What every cancelled case ends with: the orderer told exactly once, the order closed as cancelled. */
  async function expectCleanCancel(orderId: string): Promise<void> {
    // The orderer's notice is the saga's last command (finishCancelled): once delivered, every undo is done.
    await expectEventually(async () => expect(await ehrKinds(orderId)).toContain('order-cancelled'), { timeoutMs: 30_000, message: 'orderer notified' });
    expect((await ehrKinds(orderId)).filter((k) => k === 'order-cancelled')).toHaveLength(1);
    await orderIn(orderId, 'cancelled');
  }

  beforeAll(async () => {
    mkdirSync(logsDir, { recursive: true });
    mesh = await startMesh({ root: ROOT, natsUrl: testNatsUrl(), adminDatabaseUrl: testAdminDatabaseUrl(), prefix, logsDir, env: { LOG_LEVEL: 'info' } });
  }, 180_000);

  afterEach(async () => {
    await releaseFaults();
  });

  afterAll(async () => {
    await mesh?.stop();
  });

  it('before the LIS accepted: the late acceptance is cancelled at the LIS, nothing is charged', async () => {
    // Every placement call is held until the client gives up, so the cancel surely lands while the
    // saga still waits for the LIS; releasing only after the saga applied it keeps the order fixed.
    await addFault({ target: 'lis', mode: 'timeout', pathPrefix: '/lis/orders' });
    const placer = placerOf('A');
    const orderId = await place(placer);
    await held('lis', '/lis/orders', orderId);
    await cancel(placer);
    const applied = await cancelApplied(orderId);
    // Nothing to undo yet: the saga only remembers the cancel (see onCancelRequested).
    expect(applied).toMatchObject({ fromStatus: 'awaiting-lab-acceptance', toStatus: 'awaiting-lab-acceptance', commands: [] });
    await releaseFaults();

    const done = await sagaIn(orderId, 'cancelled');
    await expectCleanCancel(orderId);
    // Either the LIS never placed it, or the late placement was cancelled there, exactly once.
    const placed = await lisPlacements(orderId);
    expect(placed.length).toBeLessThanOrEqual(1);
    expect(await lisCancels(orderId)).toHaveLength(placed.length);
    if (placed.length === 1) {
      const types = inputTypes(done);
      expect(types.indexOf('LabAccepted')).toBeGreaterThan(types.indexOf('CancelRequested'));
      expect(types).toContain('LabCancelled');
    }
    expect(await effectsFor('billing', orderId)).toEqual([]);
  });

  it('while awaiting the result: the LIS order is cancelled once, nothing is charged, the orderer is told', async () => {
    // No fault: the order waits for a result that is simply never sent.
    const placer = placerOf('R');
    const orderId = await place(placer);
    await sagaIn(orderId, 'awaiting-result', 30_000);
    await cancel(placer);

    const done = await sagaIn(orderId, 'cancelled');
    expect(done.history.find((h) => h.inputType === 'CancelRequested')).toMatchObject({ fromStatus: 'awaiting-result', toStatus: 'compensating' });
    expect(inputTypes(done)).toContain('LabCancelled');
    await expectCleanCancel(orderId);
    expect(await lisPlacements(orderId)).toHaveLength(1);
    expect(await lisCancels(orderId)).toHaveLength(1);
    expect(await effectsFor('billing', orderId)).toEqual([]);
  });

  it('while awaiting the clinician notification: compensated, the LIS order is cancelled once, nothing is charged', async () => {
    const placer = placerOf('N');
    const orderId = await place(placer);
    await sagaIn(orderId, 'awaiting-result', 30_000);
    // The result notice is held at the EHR, so the saga stays in awaiting-notification for the cancel.
    await addFault({ target: 'ehr', mode: 'timeout', pathPrefix: '/ehr/' });
    await result(placer);
    const notice = await held('ehr', '/ehr/inbox/messages', orderId);
    expect(notice.body).toMatchObject({ kind: 'result-available' });
    await cancel(placer);
    const applied = await cancelApplied(orderId);
    // Before completion a cancel compensates at once: cancel-at-lab is the only undo on the stack.
    expect(applied).toMatchObject({ fromStatus: 'awaiting-notification', toStatus: 'compensating' });
    await releaseFaults();

    const done = await sagaIn(orderId, 'cancelled');
    expect(inputTypes(done)).toContain('LabCancelled');
    await expectCleanCancel(orderId);
    // The held result notice is retried and lands after the cancel: the saga must not bill for it.
    await expectEventually(
      async () => {
        expect(await ehrKinds(orderId)).toContain('result-available');
        // Whether it lands while compensating or once cancelled, it answers a command no longer awaited.
        const late = (await saga(orderId)).history.filter((h) => h.inputType === 'NotificationDelivered');
        expect(late.map((h) => h.ignored)).toContain('stale-reply');
      },
      { timeoutMs: 30_000, message: 'late result notice delivered and ignored' },
    );
    expect((await saga(orderId)).saga.status).toBe('cancelled');
    expect(await lisCancels(orderId)).toHaveLength(1);
    expect(await effectsFor('billing', orderId)).toEqual([]);
    expect((await http<{ charges: unknown[] }>('billing', `/charges?orderId=${orderId}`)).charges).toEqual([]);
  });

  it('while awaiting billing: the charge in flight is voided once it exists, the LIS order is cancelled once', async () => {
    const placer = placerOf('B');
    const orderId = await place(placer);
    await sagaIn(orderId, 'awaiting-result', 30_000);
    // The charge request is held at billing, so the cancel lands while the charge is in flight.
    await addFault({ target: 'billing', mode: 'timeout', pathPrefix: '/billing/charges' });
    await result(placer);
    await held('billing', '/billing/charges', orderId);
    await cancel(placer);
    const applied = await cancelApplied(orderId);
    // The charge may be posted already: the saga waits for billing's answer before undoing anything.
    expect(applied).toMatchObject({ fromStatus: 'awaiting-billing', toStatus: 'awaiting-billing', commands: [] });
    await releaseFaults();

    const done = await sagaIn(orderId, 'cancelled');
    await expectCleanCancel(orderId);
    const charges = await billing(orderId, 'charge');
    const voids = await billing(orderId, 'void');
    // One charge and its void, or no charge at all; never a charge left standing.
    expect(charges.length).toBeLessThanOrEqual(1);
    expect(voids.map((v) => v.resourceId)).toEqual(charges.map((c) => c.resourceId));
    expect(await lisCancels(orderId)).toHaveLength(1);
    const types = inputTypes(done);
    if (charges.length === 1) {
      // Undone in reverse: the charge (last done) before the LIS order.
      expect(types.indexOf('ChargeVoided')).toBeGreaterThan(types.indexOf('ChargeCreated'));
      expect(types.indexOf('LabCancelled')).toBeGreaterThan(types.indexOf('ChargeVoided'));
      const { charges: rows } = await http<{ charges: Array<{ chargeId: string; status: string }> }>('billing', `/charges?orderId=${orderId}`);
      expect(rows).toEqual([expect.objectContaining({ chargeId: charges[0]?.resourceId, status: 'voided' })]);
    }
  });

  it('after completion: too late, the saga stays completed and nothing is voided or cancelled', async () => {
    const placer = placerOf('C');
    const orderId = await place(placer);
    await sagaIn(orderId, 'awaiting-result', 30_000);
    await result(placer);
    await sagaIn(orderId, 'completed');
    await cancel(placer);

    const applied = await cancelApplied(orderId);
    // Recorded in the inspector with its reason, and no compensation command issued.
    expect(applied).toMatchObject({ fromStatus: 'completed', toStatus: 'completed', ignored: 'too-late', commands: [] });
    expect((await saga(orderId)).saga.status).toBe('completed');
    expect(await billing(orderId, 'charge')).toHaveLength(1);
    expect(await billing(orderId, 'void')).toEqual([]);
    expect(await lisCancels(orderId)).toEqual([]);
    expect(await ehrKinds(orderId)).not.toContain('order-cancelled');
    const { charges: rows } = await http<{ charges: Array<{ status: string }> }>('billing', `/charges?orderId=${orderId}`);
    expect(rows).toEqual([expect.objectContaining({ status: 'posted' })]);
    expect(await orderStatus(orderId)).toBe('completed');
  });
});
