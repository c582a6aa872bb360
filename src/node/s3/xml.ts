import { XMLBuilder, XMLParser } from 'fast-xml-parser';
import { S3Error } from './s3-errors.js';

/** All XML in and out of the S3 API goes through here. */

const NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/** Elements that are lists in S3's request documents, even when a document holds a single one. */
const LISTS = new Set(['Part', 'Object']);

const parser = new XMLParser({
  ignoreAttributes: true,
  // `<Key>0001</Key>` stays the string "0001", `<ETag>"…"</ETag>` stays as sent.
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  removeNSPrefix: true,
  isArray: (name) => LISTS.has(name),
});

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', suppressEmptyNode: false, processEntities: true });

export type XmlValue = string | number | boolean | XmlNode | XmlValue[] | undefined;
export interface XmlNode {
  [name: string]: XmlValue;
}

/** A response document: `<Root xmlns="…">…</Root>` with an XML declaration. Undefined members are left out. */
export function toXml(root: string, body: XmlNode, withNamespace = true): string {
  const doc = { [root]: withNamespace ? { '@_xmlns': NS, ...prune(body) } : prune(body) };
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build(doc) as string}`;
}

function prune(node: XmlNode): XmlNode {
  const out: XmlNode = {};
  for (const [k, v] of Object.entries(node)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) out[k] = v.map((x) => (x !== null && typeof x === 'object' && !Array.isArray(x) ? prune(x) : x));
    else if (v !== null && typeof v === 'object') out[k] = prune(v);
    else out[k] = v;
  }
  return out;
}

/** Parses a request document; anything that is not well-formed XML with the expected root is MalformedXML. */
export function parseXml(text: string, root: string): XmlNode {
  let doc: unknown;
  try {
    doc = parser.parse(text, true);
  } catch {
    throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
  }
  const node = (doc as XmlNode | undefined)?.[root];
  if (node === undefined) throw new S3Error('MalformedXML', `expected a <${root}> document`);
  return node === '' ? {} : (node as XmlNode);
}

export function text(v: XmlValue): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
