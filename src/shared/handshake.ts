/**
 * The lifecycle messages of the shared model server, beside the host protocol's feature
 * messages: who may connect, which build answers, and how a server says it is leaving.
 */
import { NotificationType, RequestType } from 'vscode-jsonrpc';

/** Bumped whenever a message of the host protocol changes shape: client and server must agree. */
export const PROTOCOL_VERSION = 1;

export interface HelloParams {
  /** The content of the token file; a server drops a connection that offers anything else. */
  token: string;
  protocol: number;
  /** The build the client expects (it named the endpoint after it). */
  build: string;
  /** Shown in the server's log lines ("window 3 connected"). */
  clientName?: string;
}

export interface HelloResult {
  pid: number;
  protocol: number;
  build: string;
  /** This connection's id on the server (for logs). */
  session: number;
}

/** Client → server, first message on a connection: authenticates and checks compatibility. */
export const helloRequest = new RequestType<HelloParams, HelloResult, void>('lmLens/hello');
/** Client → server: stop for every window ("Restart model"); the others reconnect to a fresh server. */
export const shutdownNotification = new NotificationType<{ reason: string }>('lmLens/shutdown');
/** Server → clients: the server exits on purpose (a restart, not a crash: it counts against no crash limit). */
export const exitingNotification = new NotificationType<{ reason: string }>('lmLens/exiting');

/** JSON-RPC error code of a refused hello (wrong token). */
export const HELLO_REFUSED = -32002;
/** Exit code of a server that found another one already serving its address: the client connects to that one. */
export const EXIT_ALREADY_RUNNING = 3;
/** The line a started server prints on stdout once it accepts connections. */
export const READY_LINE = 'lm-lens-model-server ready';
