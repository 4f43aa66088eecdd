/**
 * The raw connections a server accepts, each kept until it closes, so that
 * a shutdown can drop every one still open at its deadline: what node:http's
 * `closeAllConnections` does not do for upgraded sockets, and what
 * node:http2's secure server with its HTTP/1.1 fallback has no method for.
 * It only sees connections accepted once it is made.
 */
import type { Server as NetServer, Socket } from 'node:net';

export class ConnectionSet {
  readonly #server: NetServer;
  readonly #sockets = new Set<Socket>();
  readonly #onConnection: (socket: Socket) => void;

  constructor(server: NetServer) {
    this.#server = server;
    const sockets = this.#sockets;
    // One listener function for every socket (an emitter calls it with itself as `this`): no closure per connection.
    function forget(this: Socket): void {
      sockets.delete(this);
    }
    this.#onConnection = (socket) => {
      sockets.add(socket);
      socket.on('close', forget);
    };
    server.on('connection', this.#onConnection);
  }

  /** Stops adding new connections (those kept still leave as they close). */
  stopTracking(): void {
    this.#server.off('connection', this.#onConnection);
  }

  /** Destroys every connection still open. */
  destroyAll(): void {
    for (const socket of this.#sockets) socket.destroy();
  }
}
