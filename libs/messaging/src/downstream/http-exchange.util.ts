/** What came back from one HTTP call to a downstream system, before any meaning is given to it. */
export type HttpExchange =
  | { kind: 'response'; status: number; body: unknown }
  | { kind: 'timeout' }
  | { kind: 'network' };

/**
 * POSTs JSON and never throws: every outcome is a value the adapter maps (status tables differ per
 * system). Global fetch (undici) rather than a client library: one request shape, one deadline for the
 * whole exchange, body included — a system that stalls mid-body is as late as one that never answers.
 * Redirects are not followed (an integration endpoint that redirects is misconfigured).
 */
export async function postJson(params: { url: string; headers: Record<string, string>; body: unknown; timeoutMs: number }): Promise<HttpExchange> {
  try {
    const res = await fetch(params.url, {
      method: 'POST',
      headers: params.headers,
      body: JSON.stringify(params.body),
      redirect: 'manual',
      signal: AbortSignal.timeout(params.timeoutMs),
    });
    return { kind: 'response', status: res.status, body: parseJson(await res.text()) };
  } catch (err) {
    const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
    return { kind: timedOut ? 'timeout' : 'network' };
  }
}

function parseJson(text: string): unknown {
  try {
    return text === '' ? null : (JSON.parse(text) as unknown);
  } catch {
    return null;
  }
}
