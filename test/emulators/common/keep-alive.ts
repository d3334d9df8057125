/**
 * Idle keep-alive connections of test HTTP servers are closed by the client, never by the server.
 *
 * Node's server closes an idle keep-alive socket after `keepAliveTimeout` (5 s, plus a 1 s
 * buffer). A client that picks that socket from its pool at the same moment — Node's agent keeps
 * idle sockets up to 4–5 s, undici (fetch) up to the server's hint minus a threshold — writes
 * into a socket the server is closing and gets `socket hang up` / ECONNRESET. Under load the
 * client's own idle timer fires late, so the window is real: a test's SDK call failed on it.
 * Egress retries that; a test's own call does not, and real platforms keep idle connections far
 * longer than 5 s (behind load balancers with 60 s+ idle timeouts).
 *
 * With `keepAliveTimeout = 0` the server never closes an idle connection (and sends no
 * `Keep-Alive: timeout=` hint), so only the client's idle timer ends it: there is no race.
 * `close()` of the server still ends every connection (closeAllConnections).
 */
import type { Server } from 'node:http';

export function clientClosesIdleConnections<S extends Server>(server: S): S {
  server.keepAliveTimeout = 0;
  return server;
}
