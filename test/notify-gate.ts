// A gate between WeChat's notifications and a service: while held, notifications wait (and the
// sender's attempts time out and retry); while open, each is passed on and its answer passed back.
// Lets a test play "the query before the notification" and "the notification before the query".
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Holds WeChat's notifications while closed; passes each on to the service, and its answer back, while open. */
export async function startGate(target: () => number) {
  let open = true;
  let release: () => void = () => {};
  let opened = Promise.resolve();
  const answered: { path: string; status: number }[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req
      .on('data', (c: Buffer) => chunks.push(c))
      .on('end', async () => {
        await opened;
        const headers = Object.fromEntries(
          Object.entries(req.headers)
            .filter(([k]) => k !== 'host' && k !== 'content-length')
            .map(([k, v]) => [k, String(v)]),
        );
        const got = await fetch(`http://127.0.0.1:${target()}${req.url}`, {
          method: req.method,
          headers,
          body: Buffer.concat(chunks),
        }).catch(() => undefined);
        answered.push({ path: req.url ?? '', status: got?.status ?? 599 });
        res.writeHead(got?.status ?? 502).end(got ? Buffer.from(await got.arrayBuffer()) : undefined);
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    answered,
    hold() {
      if (!open) return;
      open = false;
      opened = new Promise((resolve) => (release = resolve));
    },
    release() {
      open = true;
      release();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
