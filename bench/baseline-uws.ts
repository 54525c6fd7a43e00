// The benchmark baseline: a bare uWebSockets.js server that reads the body, computes the same
// HMAC-SHA256 as the collector over t + "." + body, and answers 204. Nothing else.
import { createHmac } from 'node:crypto';
import uWS from 'uWebSockets.js';

const secret = Buffer.from(process.env.BASELINE_SECRET ?? 'secret');
const port = Number(process.env.BASELINE_PORT ?? 0);

uWS
  .App()
  .post('/v1/beacons', (res, req) => {
    const t = /t=(\d+)/.exec(req.getHeader('beacon-signature'))?.[1] ?? '0';
    let aborted = false;
    res.onAborted(() => (aborted = true));
    const chunks: Buffer[] = [];
    res.onData((chunk, isLast) => {
      chunks.push(Buffer.from(chunk.slice(0)));
      if (!isLast || aborted) return;
      createHmac('sha256', secret).update(`${t}.`).update(Buffer.concat(chunks)).digest('hex');
      res.cork(() => {
        res.writeStatus('204 No Content').end();
      });
    });
  })
  .listen('127.0.0.1', port, (socket) => {
    if (!socket) process.exit(1);
    console.log(`listening ${uWS.us_socket_local_port(socket)}`);
  });
