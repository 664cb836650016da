import { describe, expect, it } from '@jest/globals';

import { AppError } from '@lifeline/errors';
import type { JetStreamPublisher } from '@lifeline/messaging';
import { createLogger } from '@lifeline/observability';
import { hl7Orm } from '@lifeline/testing';

import { loadIngestGatewayConfig } from '../config/ingest-gateway.config.js';
import type { MllpAckStore } from './mllp-ack.store.js';
import { classifyResend, duplicateKey, normalizedSha256, type StoredAck } from './mllp-duplicate.util.js';
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

  function setup(store: { lookup?: () => Promise<StoredAck | null>; remember?: (k: string, a: StoredAck) => Promise<StoredAck> }) {
    const published: string[] = [];
    const publisher = {
      publishRaw: (msg: { msgId: string }) => {
        published.push(msg.msgId);
        return Promise.resolve({ stream: 'INGEST', seq: published.length, duplicate: false });
      },
    } as unknown as JetStreamPublisher;
    const acks = {
      enabled: true,
      lookup: store.lookup ?? (() => Promise.resolve(null)),
      remember: store.remember ?? ((_k: string, a: StoredAck) => Promise.resolve(a)),
    } as unknown as MllpAckStore;
    const config = loadIngestGatewayConfig({ NODE_ENV: 'test' });
    const service = new MllpIngestService(publisher, acks, createLogger({ service: 'test', level: 'silent' }), config);
    const handle = (payload: string) => service.handle({ payload: Buffer.from(payload), remoteAddress: '127.0.0.1', connectionId: 'c1' });
    return { published, handle };
  }

  it('answers AE without publishing when the register cannot be read (fail safe, sender retries)', async () => {
    const { published, handle } = setup({ lookup: () => Promise.reject(unavailable) });
    const ack = await handle(MESSAGE);
    expect(ack).toMatch(/\rMSA\|AE\|CTL-1/);
    expect(published).toEqual([]);
  });

  it('answers AE, never AA, when the message was stored but its ACK could not be remembered', async () => {
    const { published, handle } = setup({ remember: () => Promise.reject(unavailable) });
    const ack = await handle(MESSAGE);
    expect(ack).toMatch(/\rMSA\|AE\|CTL-1/);
    expect(published).toHaveLength(1);
  });

  it('answers with the ACK of a concurrent copy that was remembered first', async () => {
    const winner: StoredAck = { sha256: normalizedSha256(MESSAGE), ack: 'MSH|^~\\&|WINNER\rMSA|AA|CTL-1', code: 'AA' };
    const { handle } = setup({ remember: () => Promise.resolve(winner) });
    await expect(handle(MESSAGE)).resolves.toBe(winner.ack);
  });

  it('rejects with ERR 205 when a concurrent copy with other content was remembered first', async () => {
    const winner: StoredAck = { sha256: 'other', ack: 'MSH|^~\\&|WINNER\rMSA|AA|CTL-1', code: 'AA' };
    const { handle } = setup({ remember: () => Promise.resolve(winner) });
    await expect(handle(MESSAGE)).resolves.toMatch(/\rMSA\|AR\|CTL-1\rERR\|\|MSH\^1\^10\|205\^/);
  });
});
