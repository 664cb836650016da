import { describe, expect, it } from '@jest/globals';

import { textMapPropagatorFor } from './telemetry.js';

describe('the services’ trace propagation', () => {
  it('carries W3C trace context and no baggage by default', () => {
    const fields = textMapPropagatorFor({})?.fields();
    expect(fields).toEqual(['traceparent', 'tracestate']);
    expect(fields).not.toContain('baggage');
  });

  it('leaves the choice to the SDK when OTEL_PROPAGATORS is set', () => {
    expect(textMapPropagatorFor({ OTEL_PROPAGATORS: 'tracecontext,baggage' })).toBeUndefined();
  });
});
