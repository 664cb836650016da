import { describe, expect, it } from '@jest/globals';

import { AppError } from '@lifeline/errors';
import type { JetStreamPublisher } from '@lifeline/messaging';
import { createLogger } from '@lifeline/observability';
import { hl7Orm } from '@lifeline/testing';

import { loadIngestGatewayConfig } from '../config/ingest-gateway.config.js';
import type { MllpAckStore } from './mllp-ack.store.js';
import { classifyResend, duplicateKey, normalizedSha256, type AckClaim, type StoredAck } from './mllp-duplicate.util.js';
import { MllpIngestService } from './mllp-ingest.service.js';

const MESSAGE = hl7Orm({ controlId: 'CTL-1', placerOrderNumber: 'PLC-1', patientId: 'CANARY-1', timestamp: new Date('2026-01-02T03:04:05Z') });

describe('normalizedSha256', () => {
  it('gives CR, LF and CRLF separated copies (and a trailing separator) the same hash', () => {
    const cr = normalizedSha256(Buffer.from(MESSAGE));
    expect(normalizedSha256(MESSAGE.split('\r').join('\r\n'))).toBe(cr);
    expect(normalizedSha256(MESSAGE.split('\r').join('\n'))).toBe(cr);
    expect(normalizedSha256(`${MESSAGE}\r\n`)).toBe(cr);
  });

  it('differs when any content byte differs', () => {
    expect(normalizedSha256(MESSAGE.replace('PLC-1', 'PLC-2'))).not.toBe(normalizedSha256(MESSAGE));
  });
});

describe('duplicateKey', () => {
  it('is a valid KV key that separates the tuple fields unambiguously', () => {
    const a = duplicateKey({ sendingApplication: 'A', sendingFacility: 'BC', controlId: '1' });
    const b = duplicateKey({ sendingApplication: 'AB', sendingFacility: 'C', controlId: '1' });
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(a).not.toBe(b);
  });
});

describe('classifyResend', () => {
  const stored: StoredAck = { sha256: 'h1', ack: 'MSH|...', code: 'AA' };
  it('new without a record, resend on the same hash, conflict on another', () => {
    expect(classifyResend(null, 'h1')).toEqual({ kind: 'new' });
    expect(classifyResend(stored, 'h1')).toEqual({ kind: 'resend', stored });
    expect(classifyResend(stored, 'h2')).toEqual({ kind: 'conflict', stored });
  });
});

// Collaborators are fakes (publisher, KV register); the unit is the ingest service's decision.
describe('MllpIngestService with duplicate detection', () => {
  const unavailable = new AppError({ code: 'MLLP_ACK_STORE_UNAVAILABLE', retryable: true, message: 'down' });

  interface FakeRegister {
    claim?: (k: string, record: StoredAck) => Promise<AckClaim>;
    confirm?: (k: string, record: StoredAck, revision: number) => Promise<void>;
  }

  function setup(register: FakeRegister, opts: { publishFails?: boolean } = {}) {
    const published: string[] = [];
    const claimed: StoredAck[] = [];
    const confirmed: Array<{ record: StoredAck; revision: number }> = [];
    const publisher = {
      publishRaw: (msg: { msgId: string }) => {
        if (opts.publishFails) return Promise.reject(new Error('no PubAck'));
        published.push(msg.msgId);
        return Promise.resolve({ stream: 'INGEST', seq: published.length, duplicate: false });
      },
    } as unknown as JetStreamPublisher;
    const acks = {
      enabled: true,
      claim: (k: string, record: StoredAck) => {
        claimed.push(record);
        return register.claim ? register.claim(k, record) : Promise.resolve({ kind: 'created', revision: 1 });
      },
      confirm: (k: string, record: StoredAck, revision: number) => {
        confirmed.push({ record, revision });
        return register.confirm ? register.confirm(k, record, revision) : Promise.resolve();
      },
    } as unknown as MllpAckStore;
    const config = loadIngestGatewayConfig({ NODE_ENV: 'test' });
    const service = new MllpIngestService(publisher, acks, createLogger({ service: 'test', level: 'silent' }), config);
    const handle = (payload: string) => service.handle({ payload: Buffer.from(payload), remoteAddress: '127.0.0.1', connectionId: 'c1' });
    return { published, claimed, confirmed, handle };
  }

  const heldAs = (stored: StoredAck) => () => Promise.resolve<AckClaim>({ kind: 'held', stored, revision: 7 });

  it('claims the register with the ACK it will send (pending) before publishing, then answers that ACK and confirms it', async () => {
    const { published, claimed, confirmed, handle } = setup({});
    const ack = await handle(MESSAGE);
    expect(ack).toMatch(/\rMSA\|AA\|CTL-1/);
    expect(claimed).toEqual([{ sha256: normalizedSha256(MESSAGE), ack, code: 'AA', state: 'pending' }]);
    expect(published).toHaveLength(1);
    expect(confirmed).toEqual([{ record: claimed[0], revision: 1 }]);
  });

  it('answers AE without publishing when the register cannot be written (fail safe, sender retries)', async () => {
    const { published, handle } = setup({ claim: () => Promise.reject(unavailable) });
    const ack = await handle(MESSAGE);
    expect(ack).toMatch(/\rMSA\|AE\|CTL-1/);
    expect(published).toEqual([]);
  });

  it('answers AE and leaves the record pending when INGEST does not confirm the publish', async () => {
    const { confirmed, handle } = setup({}, { publishFails: true });
    await expect(handle(MESSAGE)).resolves.toMatch(/\rMSA\|AE\|CTL-1/);
    expect(confirmed).toEqual([]);
  });

  it('still answers AA when the confirmation fails: the record stays pending and a resend only republishes', async () => {
    const { published, handle } = setup({ confirm: () => Promise.reject(unavailable) });
    await expect(handle(MESSAGE)).resolves.toMatch(/\rMSA\|AA\|CTL-1/);
    expect(published).toHaveLength(1);
  });

  it('replays a stored ACK byte for byte without publishing', async () => {
    const stored: StoredAck = { sha256: normalizedSha256(MESSAGE), ack: 'MSH|^~\\&|FIRST\rMSA|AA|CTL-1', code: 'AA', state: 'stored' };
    const { published, confirmed, handle } = setup({ claim: heldAs(stored) });
    await expect(handle(MESSAGE)).resolves.toBe(stored.ack);
    expect(published).toEqual([]);
    expect(confirmed).toEqual([]);
  });

  it('treats a record written before the state field existed as stored', async () => {
    const legacy: StoredAck = { sha256: normalizedSha256(MESSAGE), ack: 'MSH|^~\\&|LEGACY\rMSA|AA|CTL-1', code: 'AA' };
    const { published, handle } = setup({ claim: heldAs(legacy) });
    await expect(handle(MESSAGE)).resolves.toBe(legacy.ack);
    expect(published).toEqual([]);
  });

  it('publishes a resend again when its first copy is still pending, then answers the first ACK and confirms it', async () => {
    const pending: StoredAck = { sha256: normalizedSha256(MESSAGE), ack: 'MSH|^~\\&|FIRST\rMSA|AA|CTL-1', code: 'AA', state: 'pending' };
    const { published, confirmed, handle } = setup({ claim: heldAs(pending) });
    await expect(handle(MESSAGE)).resolves.toBe(pending.ack);
    // the same Nats-Msg-Id as the first copy: the broker (and the normalizer's inbox) drop the copy
    expect(published).toEqual(['EHR|HOSP|CTL-1']);
    expect(confirmed).toEqual([{ record: pending, revision: 7 }]);
  });

  it('rejects with ERR 205 when the MSH-10 is held by other content, stored or pending, and publishes nothing', async () => {
    for (const state of ['stored', 'pending'] as const) {
      const other: StoredAck = { sha256: 'other', ack: 'MSH|^~\\&|FIRST\rMSA|AA|CTL-1', code: 'AA', state };
      const { published, handle } = setup({ claim: heldAs(other) });
      await expect(handle(MESSAGE)).resolves.toMatch(/\rMSA\|AR\|CTL-1\rERR\|\|MSH\^1\^10\|205\^/);
      expect(published).toEqual([]);
    }
  });
});
