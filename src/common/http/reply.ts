import type { ServerResponse } from 'node:http';

/**
 * A JSON answer written with Node's own response, as direct routes need (common/http/direct-routes.ts): the headers
 * Express's `res.json` gave (Content-Type with its charset, Content-Length), without its content negotiation and
 * freshness checks, which these answers never need. `type` is the media type (problem documents have their own).
 */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, type = 'application/json'): void {
  const json = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { ...headers, 'content-type': `${type}; charset=utf-8`, 'content-length': String(json.length) });
  res.end(json);
}
