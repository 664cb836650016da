import { randomUUID } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import { isAppError } from '@lifeline/errors';
import { createDownstreamGuard, decideAck } from '@lifeline/messaging';
import { expectEventually } from '@lifeline/testing';

import { loadNotificationsConfig } from '../config/notifications.config.js';
import { startExternalSim, type ExternalSim } from '@lifeline/testing';
import { EhrClient, type EhrInboxMessage } from './ehr.client.js';

// Real: external-sim as a child process over HTTP, EhrClient with the guard built from the config.
const OPEN_MS = 300;

function message(): EhrInboxMessage {
  return { notificationId: randomUUID(), kind: 'critical-result', orderId: `ord-${randomUUID()}`, patientKey: 'pk-0123456789abcdef', critical: true };
}

describe('EHR inbox circuit breaker (real external-sim)', () => {
  let sim: ExternalSim;

  beforeAll(async () => {
    sim = await startExternalSim();
  }, 60_000);

  afterAll(async () => {
    await sim?.stop();
  });

  it('stops calling a failing EHR inbox after the threshold and pauses instead; closes when it is back', async () => {
    const protection = loadNotificationsConfig({
      DATABASE_URL: 'postgres://unused/notifications',
      EHR_INBOX_BASE_URL: 'http://127.0.0.1:1/ehr',
      EHR_BREAKER_FAILURES: '2',
      EHR_BREAKER_OPEN_MS: String(OPEN_MS),
    }).ehr.protection;
    const guard = createDownstreamGuard('ehr-inbox', protection);
    const ehr = new EhrClient({ baseUrl: `${sim.baseUrl}/ehr`, timeoutMs: 1_000, guard });
    await sim.addFault({ target: 'ehr', mode: 'fail', status: 503 });

    const errors: unknown[] = [];
    for (let i = 0; i < 6; i++) errors.push(await ehr.deliverMessage(message()).catch((e: unknown) => e));

    expect(errors.slice(0, 2).every((e) => isAppError(e, 'EHR_INBOX_UNAVAILABLE'))).toBe(true);
    expect(errors.slice(2).every((e) => isAppError(e, 'DOWNSTREAM_CIRCUIT_OPEN') && e.retryable)).toBe(true);
    expect(decideAck({ error: errors[5], deliveryCount: 100 })).toMatchObject({ action: 'nak', countsAgainstBudget: false });
    expect(await sim.requests('ehr')).toHaveLength(2);

    await sim.reset();
    await expect(expectEventually(() => ehr.deliverMessage(message()), { timeoutMs: OPEN_MS * 10 })).resolves.toMatchObject({
      messageId: expect.any(String),
    });
    expect(guard.state).toBe('closed');
  });
});
