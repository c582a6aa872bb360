import { parseQuery } from './canonical.js';
import { decodeAwsChunked } from './aws-chunked.js';
import { SigV4Verifier } from './sigv4.js';
import { S3Error } from '../s3-errors.js';

/** The worked examples of AWS's "Signature Version 4 for Amazon S3" documentation (header, query and streaming). */
const KEY = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secret: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const NOW = Date.UTC(2013, 4, 24, 0, 0, 30);
const verifier = new SigV4Verifier('us-east-1', [KEY], []);

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    if (err instanceof S3Error) return err.code;
    throw err;
  }
  return 'no error';
};

describe('SigV4Verifier', () => {
  const getObject = (signature: string, extra: Record<string, string> = {}) => ({
    method: 'GET',
    rawPath: '/test.txt',
    query: [],
    headers: {
      host: 'examplebucket.s3.amazonaws.com',
      range: 'bytes=0-9',
      'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      'x-amz-date': '20130524T000000Z',
      authorization: `AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=${signature}`,
      ...extra,
    },
  });

  it('accepts the GET Object example of the AWS documentation', () => {
    const auth = verifier.authenticate(getObject('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41'), NOW);
    expect(auth).toMatchObject({ accessKeyId: KEY.accessKeyId, canWrite: true, payload: { kind: 'sha256' } });
  });

  it('refuses a changed signature, a changed signed header, and a request 15 minutes away', () => {
    expect(codeOf(() => verifier.authenticate(getObject('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb42'), NOW))).toBe('SignatureDoesNotMatch');
    expect(codeOf(() => verifier.authenticate(getObject('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41', { range: 'bytes=0-10' }), NOW))).toBe('SignatureDoesNotMatch');
    expect(codeOf(() => verifier.authenticate(getObject('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41'), NOW + 16 * 60_000))).toBe('RequestTimeTooSkewed');
    expect(codeOf(() => new SigV4Verifier('eu-west-1', [KEY], []).authenticate(getObject('x'), NOW))).toBe('AuthorizationHeaderMalformed');
    expect(codeOf(() => new SigV4Verifier('us-east-1', [{ accessKeyId: 'OTHER', secret: 's' }], []).authenticate(getObject('x'), NOW))).toBe('InvalidAccessKeyId');
  });

  it('accepts the presigned URL example, and refuses it once expired', () => {
    const query = parseQuery(
      'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404',
    );
    const req = { method: 'GET', rawPath: '/test.txt', query, headers: { host: 'examplebucket.s3.amazonaws.com' } };
    expect(verifier.authenticate(req, NOW).payload).toEqual({ kind: 'unsigned' });
    expect(codeOf(() => verifier.authenticate(req, NOW + 86_401_000))).toBe('AccessDenied');
  });

  it('a read-only key authenticates without write access', () => {
    const ro = new SigV4Verifier('us-east-1', [], [KEY]);
    expect(ro.authenticate(getObject('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41'), NOW).canWrite).toBe(false);
  });

  it('accepts the V2 presigned URL example (virtual-host style), and refuses it expired or altered', () => {
    const req = (sig: string) => ({
      method: 'GET',
      rawPath: '/photos/puppy.jpg',
      query: parseQuery(`AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=${sig}`),
      headers: { host: 'johnsmith.s3.amazonaws.com' },
    });
    const before = 1175139620 * 1000 - 60_000;
    expect(verifier.authenticate(req('NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D'), before).payload).toEqual({ kind: 'unsigned' });
    expect(codeOf(() => verifier.authenticate(req('NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D'), before + 120_000))).toBe('AccessDenied');
    expect(codeOf(() => verifier.authenticate(req('NpgCjnDzrM%2BWFzoENXmpNDUsSn9%3D'), before))).toBe('SignatureDoesNotMatch');
  });

  describe('aws-chunked (the streaming PUT example)', () => {
    const seed = '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9';
    const req = {
      method: 'PUT',
      rawPath: '/examplebucket/chunkObject.txt',
      query: [],
      headers: {
        host: 's3.amazonaws.com',
        'x-amz-date': '20130524T000000Z',
        'x-amz-storage-class': 'REDUCED_REDUNDANCY',
        'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': '66560',
        'content-length': '66824',
        authorization: `AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=${seed}`,
      },
    };
    const chunkSigs = ['ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648', '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497', 'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9'];
    const body = (sigs: string[], data = [Buffer.alloc(65536, 'a'), Buffer.alloc(1024, 'a'), Buffer.alloc(0)]) =>
      Buffer.concat(data.flatMap((d, i) => [Buffer.from(`${d.length.toString(16)};chunk-signature=${sigs[i]}\r\n`), d, Buffer.from('\r\n')]));
    // Delivered in odd-sized pieces, as a socket would.
    async function* pieces(b: Buffer): AsyncGenerator<Buffer> {
      for (let i = 0; i < b.length; i += 7919) yield b.subarray(i, i + 7919);
    }
    const decode = async (b: Buffer) => {
      const auth = verifier.authenticate(req, NOW);
      const out: Buffer[] = [];
      for await (const c of decodeAwsChunked(pieces(b), { chain: auth.chain, trailers: new Map() })) out.push(c);
      return Buffer.concat(out);
    };

    it('accepts the seed signature and every chunk signature of the example', async () => {
      expect(body(chunkSigs)).toHaveLength(66824);
      expect((await decode(body(chunkSigs))).equals(Buffer.alloc(66560, 'a'))).toBe(true);
    });

    it('refuses a chunk whose bytes or signature were changed, and a body cut short', async () => {
      const tampered = [Buffer.alloc(65536, 'a'), Buffer.concat([Buffer.from('b'), Buffer.alloc(1023, 'a')]), Buffer.alloc(0)];
      await expect(decode(body(chunkSigs, tampered))).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' });
      await expect(decode(body([chunkSigs[0], chunkSigs[2], chunkSigs[1]]))).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' });
      await expect(decode(body(chunkSigs).subarray(0, 70000 - 4000))).rejects.toMatchObject({ code: 'IncompleteBody' });
    });
  });
});
