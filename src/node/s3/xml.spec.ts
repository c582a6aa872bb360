import { parseXml, toXml } from './xml.js';

describe('S3 XML', () => {
  it('keeps numeric-looking keys as strings and a single Part as a list', () => {
    const doc = parseXml('<?xml version="1.0"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><PartNumber>1</PartNumber><ETag>"0001"</ETag></Part></CompleteMultipartUpload>', 'CompleteMultipartUpload');
    expect(doc.Part).toEqual([{ PartNumber: '1', ETag: '"0001"' }]);
    expect(parseXml('<Delete><Object><Key>0001</Key></Object></Delete>', 'Delete').Object).toEqual([{ Key: '0001' }]);
  });

  it('refuses what is not the expected document', () => {
    expect(() => parseXml('<Other/>', 'Delete')).toThrow(expect.objectContaining({ code: 'MalformedXML' }));
    expect(() => parseXml('not xml <<<', 'Delete')).toThrow(expect.objectContaining({ code: 'MalformedXML' }));
  });

  it('escapes what it writes and leaves out absent members', () => {
    const xml = toXml('ListBucketResult', { Name: 'b', Prefix: undefined, Contents: [{ Key: 'a&<b"' }, { Key: '0001' }] });
    expect(xml).toContain('<Contents><Key>a&amp;&lt;b&quot;</Key></Contents><Contents><Key>0001</Key></Contents>');
    expect(xml).not.toContain('Prefix');
  });
});
