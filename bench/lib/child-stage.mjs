// Runs one bench stage in a process of its own and sends its result back (common.mjs inChildProcess):
// the stage starts with a fresh heap, as a service does, instead of the harness's heap after the
// stages before it.
process.once('message', async ({ moduleUrl, name, args }) => {
  let reply;
  try {
    const mod = await import(moduleUrl);
    reply = { ok: true, result: await mod[name](args) };
  } catch (err) {
    reply = { ok: false, error: String(err?.stack ?? err) };
  }
  process.send(reply, () => process.exit(0));
});
