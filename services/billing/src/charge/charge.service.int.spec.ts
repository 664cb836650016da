import { randomUUID } from 'node:crypto';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { DataSource } from 'typeorm';

import {
  SUBJECTS,
  newEnvelope,
  type BillingCreateChargeV1,
  type BillingVoidChargeV1,
  type Envelope,
} from '@lifeline/contracts';
import { isAppError } from '@lifeline/errors';
import { createLogger } from '@lifeline/observability';
import { createServiceDataSource, migrateUnderLock } from '@lifeline/outbox';
import { createTestDatabase, type TestDatabase } from '@lifeline/testing';

import { BillingSystemClient } from '../billing-system/billing-system.client.js';
import { CreateCharges1764000000700 } from '../migrations/1764000000700-charges.migration.js';
import { startExternalSim, type ExternalSim } from '@lifeline/testing';
import { ChargeRepository } from './charge.repository.js';
import { ChargeService, type Delivery } from './charge.service.js';

// Real: PostgreSQL (own database), external-sim as a child process over HTTP, BillingSystemClient,
// repository, outbox and inbox. Not involved: NATS (the service is called as the handler would).
const CONSUMER = 'billing-commands';
const TIMEOUT_MS = 1_000;
const FIRST: Delivery = { consumer: CONSUMER, lastAttempt: false };
const LAST: Delivery = { consumer: CONSUMER, lastAttempt: true };

function createCommand(orderId = `ord-${randomUUID()}`): Envelope<BillingCreateChargeV1> {
  const commandId = randomUUID();
  const type = SUBJECTS.commands.billingCreateCharge;
  const data: BillingCreateChargeV1 = {
    sagaId: orderId,
    commandId,
    orderId,
    patientKey: 'pk-0123456789abcdef',
    items: [{ code: '2345-7', quantity: 1 }],
  };
  return newEnvelope({ id: commandId, type, source: 'lifeline/saga-orchestrator', data, idempotencyKey: `saga|${commandId}|${type}` });
}

function voidCommand(orderId: string, chargeId: string): Envelope<BillingVoidChargeV1> {
  const commandId = randomUUID();
  const type = SUBJECTS.commands.billingVoidCharge;
  const data: BillingVoidChargeV1 = { sagaId: orderId, commandId, orderId, chargeId, reason: 'CA' };
  return newEnvelope({ id: commandId, type, source: 'lifeline/saga-orchestrator', data, idempotencyKey: `saga|${commandId}|${type}` });
}

interface OutboxRow {
  subject: string;
  payload: Record<string, unknown>;
}

describe('ChargeService (real PostgreSQL + external-sim billing)', () => {
  let sim: ExternalSim;
  let db: TestDatabase;
  let ds: DataSource;
  let service: ChargeService;

  beforeAll(async () => {
    sim = await startExternalSim();
    db = await createTestDatabase('billing');
    ds = createServiceDataSource({ service: 'billing', url: db.url, migrations: [CreateCharges1764000000700] });
    await ds.initialize();
    await migrateUnderLock(ds, 'billing');
    const client = new BillingSystemClient({ baseUrl: `${sim.baseUrl}/billing`, timeoutMs: TIMEOUT_MS });
    service = new ChargeService(ds, client, new ChargeRepository(), createLogger({ service: 'billing', level: 'silent' }));
  }, 60_000);

  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
    await sim?.stop();
  });

  beforeEach(async () => {
    await sim.reset();
  });

  const outboxFor = (orderId: string): Promise<OutboxRow[]> =>
    ds.query('SELECT subject, payload FROM outbox WHERE aggregate_id = $1 ORDER BY seq', [orderId]);
  const chargesOf = (effects: Awaited<ReturnType<ExternalSim['effects']>>, action: string, orderId: string): number =>
    effects.effects.filter((e) => e.attributes.action === action && e.attributes.orderId === orderId).length;

  it('bills once: one charge at billing, one row, one charge-created reply, a redelivery is a no-op', async () => {
    const cmd = createCommand();
    const { orderId, sagaId, commandId } = cmd.data;

    await expect(service.handleCreateCharge(cmd, FIRST)).resolves.toBe('created');
    await expect(service.handleCreateCharge(cmd, FIRST)).resolves.toBe('duplicate');

    const effects = await sim.effects('billing');
    expect(effects.byKey).toEqual({ [commandId]: 1 });
    const chargeId = effects.effects[0]?.resourceId;
    expect(await service.findByOrderId(orderId)).toMatchObject({ chargeId, status: 'posted', createCommandId: commandId });
    expect(await outboxFor(orderId)).toEqual([
      { subject: SUBJECTS.clinical.billingChargeCreated, payload: { orderId, sagaId, commandId, chargeId } },
    ]);
  });

  it('a second create command for a billed order gets the first charge back, no second charge', async () => {
    const first = createCommand();
    await service.handleCreateCharge(first, FIRST);
    const second = createCommand(first.data.orderId);

    await expect(service.handleCreateCharge(second, FIRST)).resolves.toBe('created');

    const effects = await sim.effects('billing');
    expect(chargesOf(effects, 'charge', first.data.orderId)).toBe(1);
    const replies = await outboxFor(first.data.orderId);
    expect(replies.map((r) => r.payload.chargeId)).toEqual([effects.effects[0]?.resourceId, effects.effects[0]?.resourceId]);
  });

  it('throttled (429) for a while: retryable errors while budget remains, then bills exactly once', async () => {
    const cmd = createCommand();
    await sim.addFault({ target: 'billing', mode: 'throttle', count: 2 });

    for (let i = 0; i < 2; i += 1) {
      const err = await service.handleCreateCharge(cmd, FIRST).catch((e: unknown) => e);
      expect(isAppError(err, 'BILLING_UNAVAILABLE') && err.retryable).toBe(true);
    }
    await expect(service.handleCreateCharge(cmd, FIRST)).resolves.toBe('created');

    expect(chargesOf(await sim.effects('billing'), 'charge', cmd.data.orderId)).toBe(1);
    expect((await outboxFor(cmd.data.orderId)).map((r) => r.subject)).toEqual([SUBJECTS.clinical.billingChargeCreated]);
  });

  it('a permanent refusal (422) answers charge-failed at once: no charge, no row', async () => {
    const cmd = createCommand();
    await sim.addFault({ target: 'billing', mode: 'reject' });

    await expect(service.handleCreateCharge(cmd, FIRST)).resolves.toBe('failed');

    expect(chargesOf(await sim.effects('billing'), 'charge', cmd.data.orderId)).toBe(0);
    expect(await service.findByOrderId(cmd.data.orderId)).toBeUndefined();
    expect(await outboxFor(cmd.data.orderId)).toEqual([
      {
        subject: SUBJECTS.clinical.billingChargeFailed,
        payload: { orderId: cmd.data.orderId, sagaId: cmd.data.sagaId, commandId: cmd.data.commandId, operation: 'create', reasonCode: 'BILLING_REJECTED' },
      },
    ]);
  });

  it('still unavailable on the last attempt of the budget: answers charge-failed instead of dead-lettering', async () => {
    const cmd = createCommand();
    await sim.addFault({ target: 'billing', mode: 'fail', status: 503 });

    await expect(service.handleCreateCharge(cmd, LAST)).resolves.toBe('failed');

    expect((await outboxFor(cmd.data.orderId))[0]?.payload).toMatchObject({ operation: 'create', reasonCode: 'BILLING_UNAVAILABLE' });
  });

  it('voids a charge once; a repeated void (new command) is answered without a second void call', async () => {
    const cmd = createCommand();
    await service.handleCreateCharge(cmd, FIRST);
    const charge = await service.findByOrderId(cmd.data.orderId);
    const undo = voidCommand(cmd.data.orderId, charge?.chargeId ?? '');

    await expect(service.handleVoidCharge(undo, FIRST)).resolves.toBe('voided');
    await expect(service.handleVoidCharge(undo, FIRST)).resolves.toBe('duplicate');
    await expect(service.handleVoidCharge(voidCommand(cmd.data.orderId, charge?.chargeId ?? ''), FIRST)).resolves.toBe('voided');

    expect(chargesOf(await sim.effects('billing'), 'void', cmd.data.orderId)).toBe(1);
    expect(await service.findByOrderId(cmd.data.orderId)).toMatchObject({ status: 'voided', voidCommandId: undo.data.commandId });
  });

  it('a void the billing system refuses answers charge-failed (operation void): a failed compensation', async () => {
    const cmd = createCommand();
    await service.handleCreateCharge(cmd, FIRST);
    const charge = await service.findByOrderId(cmd.data.orderId);
    await sim.addFault({ target: 'billing', mode: 'reject', pathPrefix: '/billing/charges/' });

    await expect(service.handleVoidCharge(voidCommand(cmd.data.orderId, charge?.chargeId ?? ''), FIRST)).resolves.toBe('failed');

    expect((await outboxFor(cmd.data.orderId)).at(-1)).toMatchObject({
      subject: SUBJECTS.clinical.billingChargeFailed,
      payload: { operation: 'void', reasonCode: 'BILLING_REJECTED', chargeId: charge?.chargeId },
    });
    expect(await service.findByOrderId(cmd.data.orderId)).toMatchObject({ status: 'posted' });
  });
});
