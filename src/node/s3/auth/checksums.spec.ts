import { BodyChecks } from './checksums.js';
import { S3Error } from '../s3-errors.js';

const run = async (headers: Record<string, string>, data: Buffer, trailers = new Map<string, string>()) => {
  const checks = new BodyChecks(headers, trailers);
  async function* src(): AsyncGenerator<Buffer> {
    yield data.subarray(0, 4);
    yield data.subarray(4);
  }
  for await (const _ of checks.tap(src())) void _;
  return checks;
};

describe('BodyChecks', () => {
  const nine = Buffer.from('123456789');
  // The standard check values of each CRC over "123456789", base64 of the big-endian digest.
  it.each([
    ['x-amz-checksum-crc32', Buffer.from('cbf43926', 'hex').toString('base64')],
    ['x-amz-checksum-crc32c', Buffer.from('e3069283', 'hex').toString('base64')],
    ['x-amz-checksum-sha1', '98O8HYCOBHMq32eZZczDTKeuNEE='],
    ['x-amz-checksum-sha256', 'FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU='],
  ])('verifies %s, and refuses a wrong value with BadDigest', async (name, value) => {
    expect((await run({ [name]: value }, nine)).verify()).toEqual({ [name]: value });
    const wrong = Buffer.from(value, 'base64');
    wrong[0] ^= 1;
    const bad = await run({ [name]: wrong.toString('base64') }, nine);
    expect(() => bad.verify()).toThrow(S3Error);
  });

  it('takes the checksum from an aws-chunked trailer when the header only announces it', async () => {
    const trailers = new Map([['x-amz-checksum-crc32c', Buffer.from('e3069283', 'hex').toString('base64')]]);
    expect((await run({ 'x-amz-trailer': 'x-amz-checksum-crc32c' }, nine, trailers)).verify()).toEqual({ 'x-amz-checksum-crc32c': '4waSgw==' });
  });

  it('checks Content-MD5 and always knows the MD5 (the ETag)', async () => {
    const md5 = '25f9e794323b453885f5181f1b624d0b';
    const ok = await run({ 'content-md5': Buffer.from(md5, 'hex').toString('base64') }, nine);
    expect(ok.verify()).toEqual({});
    expect(ok.md5OfBody).toBe(md5);
    const bad = await run({ 'content-md5': Buffer.alloc(16).toString('base64') }, nine);
    expect(() => bad.verify()).toThrow(expect.objectContaining({ code: 'BadDigest' }));
    expect(() => new BodyChecks({ 'content-md5': 'nope' }, new Map())).toThrow(expect.objectContaining({ code: 'InvalidDigest' }));
  });
});
