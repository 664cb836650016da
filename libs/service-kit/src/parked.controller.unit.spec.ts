import { describe, expect, it } from '@jest/globals';
import type { Response } from 'express';

import type { JetStreamServer, ParkedEntry } from '@lifeline/messaging';
import { createLogger } from '@lifeline/observability';

import { ParkedController } from './parked.controller.js';

const entry = (consumer: string, patientKey: string): ParkedEntry => ({
  consumer,
  patientKey,
  status: 'parked',
  headMessageId: 'm-1',
  headStream: 'CLINICAL',
  headSeq: 4,
  dlqSeq: 1,
  code: 'ORDER_UNPROCESSABLE',
  parkedAt: '2026-01-01T00:00:00.000Z',
});

function setup(entries: ParkedEntry[]) {
  const calls: string[] = [];
  const parking = {
    list: () => entries,
    release: async (c: string, p: string) => {
      calls.push(`release ${c} ${p}`);
      return { ...entry(c, p), status: 'releasing' as const };
    },
    discard: async (c: string, p: string) => {
      calls.push(`discard ${c} ${p}`);
      return entry(c, p);
    },
  };
  const controller = new ParkedController({ parking } as unknown as JetStreamServer, createLogger({ service: 'test', level: 'silent' }));
  let status = 0;
  const res = { status: (s: number) => ((status = s), res) } as unknown as Response;
  return { controller, calls, res, status: () => status };
}

describe('ParkedController', () => {
  it('lists, releases and discards per patient (optionally one consumer), 404 when nothing is parked', async () => {
    const t = setup([entry('orders-a', 'pk-1'), entry('orders-b', 'pk-1'), entry('orders-a', 'pk-2')]);
    expect(t.controller.list().parked).toHaveLength(3);
    expect((await t.controller.release('pk-1', undefined, t.res)).released.map((e) => e.status)).toEqual(['releasing', 'releasing']);
    await t.controller.discard('pk-2', 'orders-a', t.res);
    expect(t.calls).toEqual(['release orders-a pk-1', 'release orders-b pk-1', 'discard orders-a pk-2']);
    expect(t.status()).toBe(0);
    expect((await t.controller.release('pk-9', undefined, t.res)).released).toEqual([]);
    expect(t.status()).toBe(404);
  });
});
