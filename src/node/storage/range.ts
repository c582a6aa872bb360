import { ShoalError } from '../../common/errors.js';

export interface ByteRange {
  start: number;
  /** inclusive */
  end: number;
}

/**
 * Parses a single `Range: bytes=…` header (RFC 9110 §14). Returns undefined when absent; a syntax error is 400, an
 * unsatisfiable range 416 with `Content-Range: bytes *\/size`. Multiple ranges are refused as bad syntax (we serve one).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) throw new ShoalError('INVALID_RANGE', `unsupported Range "${header}"; send one range as bytes=start-end`);
  const unsatisfiable = () => new ShoalError('RANGE_NOT_SATISFIABLE', `range ${header} is outside the ${size} bytes of the file`, {}, { 'Content-Range': `bytes */${size}` });
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) throw unsatisfiable();
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) throw new ShoalError('INVALID_RANGE', `range ${header} ends before it starts`);
  if (start >= size) throw unsatisfiable();
  return { start, end };
}
