import { describe, expect, it } from '@jest/globals';

import { loadIngestGatewayConfig } from './ingest-gateway.config.js';

describe('loadIngestGatewayConfig: MLLP duplicate detection', () => {
  it('is on by default with a 7-day horizon', () => {
    expect(loadIngestGatewayConfig({}).mllp.duplicates).toEqual({ enabled: true, horizonMs: 7 * 86_400_000 });
  });

  it('can be switched off (negative control) and given another horizon', () => {
    expect(loadIngestGatewayConfig({ MLLP_DUPLICATE_DETECTION: 'false', MLLP_DUPLICATE_HORIZON_MS: '3600000' }).mllp.duplicates).toEqual({
      enabled: false,
      horizonMs: 3_600_000,
    });
  });

  it('rejects a non-boolean switch and a horizon under a minute', () => {
    expect(() => loadIngestGatewayConfig({ MLLP_DUPLICATE_DETECTION: 'maybe', MLLP_DUPLICATE_HORIZON_MS: '1000' })).toThrow(
      /MLLP_DUPLICATE_DETECTION.*MLLP_DUPLICATE_HORIZON_MS/s,
    );
  });
});
