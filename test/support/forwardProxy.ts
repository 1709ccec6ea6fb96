// A forward HTTP proxy on 127.0.0.1, as corporate networks run them: CONNECT tunnels (what
// undici's proxy agents use for every target) and absolute-URI forwarding, optionally demanding
// Basic authentication (407) or refusing every tunnel (403). It records what passed through.
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface ProxyOptions {
  /** `user:password` the proxy demands; anything else gets 407. */
  auth?: string;
  /** Answer every request with 403, as a proxy that blocks the destination. */
  refuse?: boolean;
}

export class ForwardProxy {
  /** `CONNECT host:port` or `GET http://…`, in arrival order. */
  readonly log: string[] = [];
  /** Local ports of the proxy's connections to targets: a target sees requests from these. */
  readonly upstreamPorts = new Set<number>();
  private readonly sockets = new Set<net.Socket>();
  private readonly server: http.Server;

  private constructor(private readonly options: ProxyOptions) {
    this.server = http.createServer((request, response) => this.forward(request, response));
    this.server.on('connect', (request: http.IncomingMessage, socket: net.Socket, head: Buffer) => this.tunnel(request, socket, head));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  static async start(options: ProxyOptions = {}): Promise<ForwardProxy> {
    const proxy = new ForwardProxy(options);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The status a request gets before it is let through, or undefined to let it through. */
  private gate(request: http.IncomingMessage): { status: number; headers: Record<string, string> } | undefined {
    if (this.options.refuse) return { status: 403, headers: {} };
    if (this.options.auth) {
      const expected = `Basic ${Buffer.from(this.options.auth).toString('base64')}`;
      if (request.headers['proxy-authorization'] !== expected) return { status: 407, headers: { 'proxy-authenticate': 'Basic realm="proxy"' } };
    }
    return undefined;
  }

  private tunnel(request: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    this.log.push(`CONNECT ${request.url ?? ''}`);
    const refused = this.gate(request);
    if (refused) {
      const headers = Object.entries(refused.headers).map(([key, value]) => `${key}: ${value}\r\n`).join('');
      socket.end(`HTTP/1.1 ${refused.status} ${http.STATUS_CODES[refused.status] ?? ''}\r\n${headers}Content-Length: 0\r\n\r\n`);
      return;
    }
    const [host = '', port = '443'] = (request.url ?? '').split(':');
    const upstream = net.connect(Number(port), host, () => {
      if (upstream.localPort) this.upstreamPorts.add(upstream.localPort);
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  }

  private forward(request: http.IncomingMessage, response: http.ServerResponse): void {
    this.log.push(`${request.method ?? 'GET'} ${request.url ?? ''}`);
    const refused = this.gate(request);
    if (refused) {
      response.writeHead(refused.status, refused.headers).end();
      return;
    }
    const target = new URL(request.url ?? '');
    const headers = { ...request.headers };
    delete headers['proxy-authorization'];
    const upstream = http.request(target, { method: request.method, headers, agent: false }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    upstream.on('socket', (socket) => socket.on('connect', () => socket.localPort && this.upstreamPorts.add(socket.localPort)));
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  }
}
