import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { Authenticated } from './auth/sigv4.js';

/** One S3 request, addressed and authenticated: what every handler is given. */
export interface S3Context {
  req: IncomingMessage;
  /** '' for the service (ListBuckets) */
  bucket: string;
  /** '' for bucket operations */
  key: string;
  query: Map<string, string>;
  auth: Authenticated;
}

export interface S3Response {
  status: number;
  headers?: Record<string, string>;
  body?: string | Readable;
  /** a long-running answer (CompleteMultipartUpload) that writes the response itself */
  stream?: (res: import('node:http').ServerResponse) => Promise<void>;
}

export const xmlResponse = (body: string, status = 200, headers: Record<string, string> = {}): S3Response => ({
  status,
  headers: { 'content-type': 'application/xml', ...headers },
  body,
});
