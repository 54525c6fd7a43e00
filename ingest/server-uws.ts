// The collector on uWebSockets.js: the HTTP routes of routes.ts (POST bodies streamed, refused past
// the size limit), and the /v1/stream WebSocket (one JSON ack per binary frame, in `seq` order from 0).
// Stops by closing the listen socket, then waits for the requests in flight.
import { setTimeout as sleep } from 'node:timers/promises';
import uWS from 'uWebSockets.js';
import { beacon } from '../schemas/gen/messages.js';
import type { BeaconResponse } from './collector.js';
import { answerPreflight } from './cors.js';
import { clientIp, handleSafely, notFound, statusLine, tooLarge, type ServerConfig, type ServerDeps } from './http.js';
import { readHeaders, route, takesBody, type Incoming } from './routes.js';

/** `acks`: the last ack queued; each ack is sent after the one before it. */
interface Socket {
  ip: string;
  userAgent: string;
  origin: string;
  seq: number;
  closed: boolean;
  acks: Promise<void>;
}
interface RequestState {
  done: boolean;
}

const text = (ab: ArrayBuffer) => Buffer.from(ab).toString();
const EMPTY = new Uint8Array(0);

export function createUwsServer(config: ServerConfig, deps: ServerDeps) {
  const app = uWS.App();
  let listenSocket: uWS.us_listen_socket | false = false;
  let inFlight = 0;

  // Answered or aborted, once.
  function finish(request: RequestState): void {
    if (!request.done) inFlight--;
    request.done = true;
  }

  const write = (res: uWS.HttpResponse, r: BeaconResponse): void => {
    res.cork(() => {
      res.writeStatus(statusLine(r.status));
      if (r.retryAfterS) res.writeHeader('retry-after', String(r.retryAfterS));
      if (r.headers) for (const name in r.headers) res.writeHeader(name, r.headers[name]!);
      if (r.status === 204) return void res.endWithoutBody();
      res.writeHeader('content-type', 'application/json').end(JSON.stringify(r.body));
    });
  };

  /** Writes the answer unless the client went away, then counts the request done. */
  const answer = (res: uWS.HttpResponse, request: RequestState, incoming: Incoming): void => {
    void route(deps, incoming).then((r) => {
      if (!request.done) write(res, r);
      finish(request);
    });
  };

  // POST routes read their body as it streams, refused past the size limit (routes.ts says which).
  app.post('/*', (res, req) => {
    const path = req.getUrl();
    if (!takesBody('POST', path)) return write(res, notFound);
    const headers = readHeaders((name) => req.getHeader(name));
    const query = req.getQuery() ?? '';
    const ip = clientIp(text(res.getRemoteAddressAsText()), req.getHeader('x-forwarded-for'), config.trustProxy);
    if (Number(req.getHeader('content-length') || 0) > config.maxBodyBytes)
      return write(res, tooLarge(config.maxBodyBytes, deps.origins, headers.origin));

    const request: RequestState = { done: false };
    inFlight++;
    res.onAborted(() => finish(request));
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      if (request.done) return;
      size += chunk.byteLength;
      if (size > config.maxBodyBytes) {
        finish(request);
        return write(res, tooLarge(config.maxBodyBytes, deps.origins, headers.origin));
      }
      chunks.push(Buffer.from(chunk.slice(0))); // uWS reuses the chunk's memory after this call
      if (!isLast) return;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      answer(res, request, { method: 'POST', path, query, headers, ip, body });
    });
  });

  app.ws<Socket>('/v1/stream', {
    maxPayloadLength: config.maxBodyBytes + 1024,
    idleTimeout: 120,
    compression: uWS.DISABLED,
    // A client that stops reading its acks is disconnected rather than silently missing some.
    maxBackpressure: 1024 * 1024,
    closeOnBackpressureLimit: 1,
    // A page's socket opens only from an origin some app registered; each frame's app is checked as a POST's.
    upgrade: (res, req, context) => {
      const ip = clientIp(text(res.getRemoteAddressAsText()), req.getHeader('x-forwarded-for'), config.trustProxy);
      const origin = req.getHeader('origin');
      if (origin && !deps.origins.knows(origin)) return write(res, answerPreflight(deps.origins, origin));
      res.upgrade<Socket>(
        { ip, userAgent: req.getHeader('user-agent'), origin, seq: 0, closed: false, acks: Promise.resolve() },
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },
    message: (ws, message, isBinary) => {
      const s = ws.getUserData();
      const seq = s.seq++;
      const answer = answerFrame(s, message, isBinary);
      // Acks go out in seq order: a frame refused at once waits for an earlier one still waiting on Kafka.
      s.acks = s.acks
        .then(() => answer)
        .then((r) => {
          if (!s.closed)
            ws.send(
              JSON.stringify({
                seq,
                status: r.status,
                ...r.body,
                ...(r.retryAfterS ? { retry_after: r.retryAfterS } : {}),
              }),
              false,
            );
        });
    },
    close: (ws) => {
      ws.getUserData().closed = true;
    },
  });

  /** The answer to one frame; `message` is only valid during the message callback, so it is read now. */
  function answerFrame(s: Socket, message: ArrayBuffer, isBinary: boolean): Promise<BeaconResponse> {
    if (!isBinary)
      return Promise.resolve({
        status: 400,
        body: { error: 'text_frame', message: 'send SignedBatch frames as binary' },
      });
    let frame: beacon.v1.SignedBatch;
    try {
      frame = beacon.v1.SignedBatch.decode(new Uint8Array(message.slice(0)));
    } catch (err) {
      return Promise.resolve({
        status: 400,
        body: { error: 'undecodable_frame', message: `SignedBatch: ${(err as Error).message}` },
      });
    }
    inFlight++;
    return handleSafely(deps, {
      contentType: 'application/x-protobuf',
      signature: `t=${frame.t},k=${frame.keyId},v1=${frame.signature}`,
      body: frame.batch,
      ip: s.ip,
      userAgent: s.userAgent,
      origin: s.origin,
    }).finally(() => inFlight--);
  }

  /** GET and OPTIONS: routes without a body. */
  const bodyless = (method: 'GET' | 'OPTIONS') => (res: uWS.HttpResponse, req: uWS.HttpRequest) => {
    const incoming: Incoming = {
      method,
      path: req.getUrl(),
      query: req.getQuery() ?? '',
      headers: readHeaders((name) => req.getHeader(name)),
      ip: clientIp(text(res.getRemoteAddressAsText()), req.getHeader('x-forwarded-for'), config.trustProxy),
      body: EMPTY,
    };
    const request: RequestState = { done: false };
    inFlight++;
    res.onAborted(() => finish(request));
    answer(res, request, incoming);
  };
  app.get('/*', bodyless('GET'));
  app.options('/*', bodyless('OPTIONS'));
  app.any('/*', (res) => write(res, notFound));

  return {
    listen(): Promise<number> {
      return new Promise((resolve, reject) =>
        app.listen(config.host, config.port, (socket) => {
          if (!socket) return reject(new Error(`cannot listen on ${config.host}:${config.port} (port taken?)`));
          listenSocket = socket;
          resolve(uWS.us_socket_local_port(socket));
        }),
      );
    },
    async stop(): Promise<void> {
      if (listenSocket) uWS.us_listen_socket_close(listenSocket);
      listenSocket = false;
      for (let i = 0; inFlight > 0 && i < 300; i++) await sleep(10);
    },
  };
}
