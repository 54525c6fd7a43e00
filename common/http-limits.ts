// Every node:http server we run, with bounds on what a client may hold: time to send its request,
// time idle, and a share of the process's sockets. Without them, idle and slow-drip connections
// piled up until a process ran out of file descriptors (issue 21).
import { createServer, STATUS_CODES, type RequestListener, type Server } from 'node:http';
import type { Socket } from 'node:net';

export interface HttpLimits {
  /** Headers and body must have arrived within this, counted from the connection or the request's first byte. */
  requestTimeoutMs: number;
  /** A keep-alive connection idle after its answer is closed after this. */
  keepAliveTimeoutMs: number;
  /** A socket with no traffic either way (a client that stopped reading, say) is closed after this. */
  idleTimeoutMs: number;
  /** Connections beyond this are closed as they arrive; those open are still served. */
  maxConnections: number;
}

export const defaultHttpLimits: HttpLimits = {
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 30_000,
  maxConnections: 4_096,
};

const MAX_HEADER_BYTES = 8 * 1024;
const MAX_HEADERS = 64;

/** What a client whose request never became one is told, as the APIs' error body. */
function clientErrorReply(code: string | undefined): string {
  const [status, error] =
    code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large']
      : code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout']
        : [400, 'bad_request'];
  const body = JSON.stringify({
    error,
    message: `the request was not valid HTTP or did not arrive in time (${code ?? 'unknown'})`,
  });
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

export function createLimitedServer(limits: HttpLimits, listener: RequestListener): Server {
  const server = createServer(
    {
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Node looks for expired requests every 30 s by default, far past a short request timeout.
      connectionsCheckingInterval: Math.min(1_000, Math.max(100, limits.requestTimeoutMs / 4)),
      maxHeaderSize: MAX_HEADER_BYTES,
    },
    listener,
  );
  server.maxConnections = limits.maxConnections;
  server.maxHeadersCount = MAX_HEADERS;
  server.timeout = limits.idleTimeoutMs;
  // As Node's own handler does (answer only a socket nothing was written to, then destroy it), with a JSON body.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (socket.writable && socket.bytesWritten === 0) socket.write(clientErrorReply(err.code));
    socket.destroy();
  });
  return server;
}
