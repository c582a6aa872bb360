import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS: under ESM its function is the default export's default.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: Ajv) => Ajv;

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- a parsed OpenAPI document

/** Headers every HTTP/1.1 answer may carry whatever the operation: transport, not API. Everything else must be declared. */
const TRANSPORT_HEADERS = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-type']);

export interface LiveResponse {
  status: number;
  headers: Headers;
  /** The raw body (empty for HEAD, 204 and 304). */
  body: Buffer;
}

/**
 * Checks live answers against a committed OpenAPI document, strictly: the status must be declared for the operation,
 * the body must match the declared media type and schema — with `additionalProperties: false` added to every object
 * schema that does not say otherwise, so an undeclared field fails —, every `required` header must be present, every
 * header present must match its declared schema, and no header beyond {@link TRANSPORT_HEADERS} may be undeclared.
 */
export class OpenApiValidator {
  private readonly ajv: Ajv;
  private readonly compiled = new Map<string, ValidateFunction>();
  /** `METHOD /path` → statuses seen, for the coverage check. */
  readonly seen = new Map<string, Set<number>>();

  constructor(readonly doc: Json) {
    this.ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(this.ajv);
    this.ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
    this.ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
    this.ajv.addFormat('binary', true);
    this.ajv.addSchema({ $id: 'doc', components: closeObjects(structuredClone(doc.components ?? {})) });
  }

  static load(file: string): OpenApiValidator {
    return new OpenApiValidator(JSON.parse(readFileSync(file, 'utf8')) as Json);
  }

  /** Every operation of the document as `METHOD /path`. */
  operations(): string[] {
    return Object.entries<Json>(this.doc.paths).flatMap(([path, item]) =>
      ['get', 'put', 'post', 'delete', 'head', 'patch'].filter((m) => item[m]).map((m) => `${m.toUpperCase()} ${path}`));
  }

  /** Throws an error naming every way `res` departs from what the document declares for `operation`. */
  check(operation: string, res: LiveResponse): void {
    const [method, path] = operation.split(' ');
    const op = this.doc.paths[path]?.[method.toLowerCase()] as Json | undefined;
    if (!op) throw new Error(`${operation} is not in the document "${this.doc.info.title}"`);
    const declared = (op.responses as Json)[String(res.status)] ?? (op.responses as Json)[`${String(res.status)[0]}XX`] ?? (op.responses as Json).default;
    const problems: string[] = [];
    if (!declared) {
      problems.push(`status ${res.status} is not declared (declared: ${Object.keys(op.responses).join(', ')})`);
    } else {
      problems.push(...this.checkBody(method, declared, res), ...this.checkHeaders(declared, res));
    }
    if (problems.length) {
      throw new Error(`${operation} → ${res.status} does not match the document:\n  - ${problems.join('\n  - ')}\n  body: ${res.body.toString('utf8').slice(0, 600)}`);
    }
    const statuses = this.seen.get(operation) ?? new Set<number>();
    statuses.add(res.status);
    this.seen.set(operation, statuses);
  }

  private checkBody(method: string, declared: Json, res: LiveResponse): string[] {
    const content = declared.content as Json | undefined;
    const type = (res.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
    if (method === 'HEAD' || res.status === 204 || res.status === 304) {
      return res.body.length > 0 ? [`a ${method} ${res.status} answer carries ${res.body.length} body bytes`] : [];
    }
    if (!content) return res.body.length > 0 ? [`no content is declared but ${res.body.length} bytes of ${type} came`] : [];
    const media = content[type] ?? content[`${type.split('/')[0]}/*`] ?? content['*/*'];
    if (!media) return [`Content-Type ${type || '(none)'} is not declared (declared: ${Object.keys(content).join(', ')})`];
    const schema = media.schema as Json | undefined;
    if (!schema || schema.format === 'binary') return [];
    if (!/json$/.test(type)) return schema.type === 'string' ? [] : [`a ${type} body cannot match a ${schema.type} schema`];
    let value: unknown;
    try {
      value = JSON.parse(res.body.toString('utf8'));
    } catch {
      return [`the ${type} body is not JSON`];
    }
    return this.errors(schema, value, 'body');
  }

  private checkHeaders(declared: Json, res: LiveResponse): string[] {
    const specs = new Map<string, Json>(Object.entries<Json>(declared.headers ?? {}).map(([name, spec]) => [name.toLowerCase(), spec]));
    const problems: string[] = [];
    for (const [name, spec] of specs) {
      const raw = res.headers.get(name);
      if (raw === null) {
        if (spec.required) problems.push(`required header ${name} is missing`);
        continue;
      }
      const schema = spec.schema as Json;
      const value = schema.type === 'integer' || schema.type === 'number' ? (/^-?\d+$/.test(raw) ? Number(raw) : raw) : raw;
      problems.push(...this.errors(schema, value, `header ${name}`));
    }
    for (const name of res.headers.keys()) {
      if (!specs.has(name) && !TRANSPORT_HEADERS.has(name)) problems.push(`header ${name}: ${res.headers.get(name)} is sent but not declared`);
    }
    return problems;
  }

  private errors(schema: Json, value: unknown, what: string): string[] {
    const key = JSON.stringify(schema);
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.ajv.compile(closeObjects(rebase(structuredClone(schema))));
      this.compiled.set(key, validate);
    }
    if (validate(value)) return [];
    return (validate.errors ?? []).map((e) => `${what}${e.instancePath} ${e.message}${e.params && 'additionalProperty' in e.params ? `: ${String(e.params.additionalProperty)}` : ''}`);
  }
}

/** Local `#/components/...` references point into the schema registered as `doc`. */
function rebase(node: unknown): Json {
  if (Array.isArray(node)) return node.map(rebase) as unknown as Json;
  if (!node || typeof node !== 'object') return node as Json;
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? `doc${v}` : rebase(v);
  return out;
}

/**
 * Strictness for validation only: an object schema with `properties` and no word on `additionalProperties` gets
 * `additionalProperties: false`, so a field the server sends but the document does not declare fails. (The documents
 * themselves stay open, as OpenAPI's default is, so clients tolerate additions.)
 */
function closeObjects<T>(node: T): T {
  if (Array.isArray(node)) {
    node.forEach(closeObjects);
  } else if (node && typeof node === 'object') {
    const schema = node as Json;
    for (const v of Object.values(schema)) closeObjects(v);
    if (schema.properties && typeof schema.properties === 'object' && !('additionalProperties' in schema) && schema.type === 'object') schema.additionalProperties = false;
    if (schema.$ref && typeof schema.$ref === 'string') schema.$ref = schema.$ref.startsWith('#/') ? `doc${schema.$ref}` : schema.$ref;
  }
  return node;
}
