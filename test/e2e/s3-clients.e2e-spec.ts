import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../support/processes.js';
import { runTool, S3_KEY, startS3Cluster, type S3Cluster, type ToolRun } from '../support/s3-cluster.js';
import { sha256 as sha } from '../support/files.js';

/**
 * The aws CLI, rclone and s3cmd, as users run them, against a real 3-node cluster's S3 API — each with its own config
 * in a temp HOME, so nothing of the user's is read or touched.
 */
const MiB = 1024 * 1024;


describe('S3 API with real clients', () => {
  let s3: S3Cluster;
  let work: string;

  beforeAll(async () => {
    s3 = await startS3Cluster(3);
    work = await mkdtemp(path.join(os.tmpdir(), 'shoal-s3-work-'));
    await mkdir(path.join(s3.home, '.aws'), { recursive: true });
    // Small parts so that a 64 MiB copy goes multipart; the default signature (V2) for presign, s3v4 in profile v4.
    await writeFile(
      path.join(s3.home, '.aws', 'config'),
      '[default]\nregion = us-east-1\ns3 =\n    multipart_threshold = 8MB\n    multipart_chunksize = 8MB\n\n[profile v4]\nregion = us-east-1\ns3 =\n    signature_version = s3v4\n',
    );
    // A named profile takes its keys from the credentials file, not from AWS_ACCESS_KEY_ID.
    await writeFile(path.join(s3.home, '.aws', 'credentials'), `[v4]\naws_access_key_id = ${S3_KEY.id}\naws_secret_access_key = ${S3_KEY.secret}\n`);
  }, 90_000);

  afterAll(async () => {
    await s3?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const ok = (r: ToolRun, what: string): string => {
    if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.stderr}\n${r.stdout}`);
    return r.stdout;
  };
  const aws = async (args: string[], node = 0) => ok(await runTool('aws', ['--endpoint-url', s3.endpoints[node], ...args], { home: s3.home, timeoutMs: 180_000 }), `aws ${args.slice(0, 3).join(' ')}`);
  const awsJson = async <T>(args: string[], node = 0): Promise<T> => JSON.parse(await aws([...args, '--output', 'json'], node)) as T;

  describe('aws CLI', () => {
    it('mb, cp, ls, and the same file through /v1', async () => {
      await aws(['s3', 'mb', 's3://cli']);
      const small = path.join(work, 'small.txt');
      await writeFile(small, 'hello from the aws cli\n');
      await aws(['s3', 'cp', small, 's3://cli/docs/small.txt', '--content-type', 'text/plain', '--metadata', 'owner=me,n=0001'], 1);
      expect(await aws(['s3', 'ls'])).toMatch(/ cli\n/);
      expect(await aws(['s3', 'ls', 's3://cli/docs/'], 2)).toMatch(/ 23 small\.txt/);
      const head = await awsJson<{ ContentLength: number; ContentType: string; Metadata: Record<string, string>; ETag: string }>(['s3api', 'head-object', '--bucket', 'cli', '--key', 'docs/small.txt']);
      expect(head).toMatchObject({ ContentLength: 23, ContentType: 'text/plain', Metadata: { owner: 'me', n: '0001' } });
      expect(head.ETag).toBe(`"${createHash('md5').update('hello from the aws cli\n').digest('hex')}"`);
      // An S3 object (bucket, key) is the Shoal file bucket/key.
      const v1 = await fetch(`${s3.cluster.nodes[2].url}/v1/files/cli/docs/small.txt`);
      expect(v1.status).toBe(200);
      expect(await v1.text()).toBe('hello from the aws cli\n');
      const listed = (await (await fetch(`${s3.cluster.nodes[0].url}/v1/files?prefix=cli/`)).json()) as { items: { key: string }[] };
      expect(listed.items.map((i) => i.key)).toEqual(['cli/docs/small.txt']);
      // …and through the shoal CLI.
      const shoal = (args: string[]) => runTool(process.execPath, [path.join(REPO_ROOT, 'bin', 'shoal.js'), ...args], { home: s3.home, env: { SHOAL_URL: s3.cluster.nodes[1].url } });
      expect(ok(await shoal(['get', 'cli/docs/small.txt', '-']), 'shoal get')).toBe('hello from the aws cli\n');
      expect(ok(await shoal(['ls', 'cli/']), 'shoal ls')).toContain('cli/docs/small.txt');
      // The bucket record is not a /v1 file.
      const all = (await (await fetch(`${s3.cluster.nodes[0].url}/v1/files`)).json()) as { items: { key: string }[] };
      expect(all.items.some((i) => i.key.startsWith('.shoal-s3/'))).toBe(false);
    });

    it('a 64 MiB cp goes multipart and comes back byte for byte; get-object with a range', async () => {
      const big = path.join(work, 'big.bin');
      const bytes = randomBytes(64 * MiB);
      await writeFile(big, bytes);
      await aws(['s3', 'cp', big, 's3://cli/big.bin', '--quiet']);
      const head = await awsJson<{ ETag: string; ContentLength: number }>(['s3api', 'head-object', '--bucket', 'cli', '--key', 'big.bin'], 1);
      expect(head.ContentLength).toBe(64 * MiB);
      expect(head.ETag).toMatch(/^"[0-9a-f]{32}-8"$/);
      const back = path.join(work, 'big.back');
      await aws(['s3', 'cp', 's3://cli/big.bin', back, '--quiet'], 2);
      expect(sha(await readFile(back))).toBe(sha(bytes));
      const ranged = path.join(work, 'ranged');
      const r = await awsJson<{ ContentRange: string }>(['s3api', 'get-object', '--bucket', 'cli', '--key', 'big.bin', '--range', 'bytes=1000-1999', ranged]);
      expect(r.ContentRange).toBe(`bytes 1000-1999/${64 * MiB}`);
      expect((await readFile(ranged)).equals(bytes.subarray(1000, 2000))).toBe(true);
      await rm(big);
      await rm(back);
    }, 180_000);

    it('presigned URLs (V2 by default, and s3v4) fetched with curl', async () => {
      for (const profile of [[], ['--profile', 'v4']]) {
        const url = (await aws(['s3', 'presign', 's3://cli/docs/small.txt', '--expires-in', '300', ...profile])).trim();
        expect(url).toMatch(profile.length ? /X-Amz-Signature=/ : /Signature=/);
        const got = ok(await runTool('curl', ['-sS', '-f', url], { home: s3.home }), 'curl presigned');
        expect(got).toBe('hello from the aws cli\n');
        const tampered = await runTool('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', url.replace('small.txt', 'other.txt')], { home: s3.home });
        expect(tampered.stdout).toBe('403');
      }
    });

    it('sync up and back, copy-object, delete-objects, list-objects-v2 pages, list-object-versions, rm', async () => {
      const tree = path.join(work, 'tree');
      const names = ['a.txt', 'sub/b.txt', 'sub/deeper/c d.txt', 'ünï/çødé.txt', '&+-é"/ a%2Fb', '0001'];
      for (const n of names) {
        await mkdir(path.dirname(path.join(tree, n)), { recursive: true });
        await writeFile(path.join(tree, n), `content of ${n}`);
      }
      await aws(['s3', 'sync', tree, 's3://cli/tree']);
      const back = path.join(work, 'tree-back');
      await aws(['s3', 'sync', 's3://cli/tree', back], 1);
      for (const n of names) expect(await readFile(path.join(back, n), 'utf8')).toBe(`content of ${n}`);
      // A second sync has nothing to do.
      expect((await aws(['s3', 'sync', tree, 's3://cli/tree'])).trim()).toBe('');

      await aws(['s3api', 'copy-object', '--bucket', 'cli', '--key', 'copied.txt', '--copy-source', 'cli/tree/a.txt']);
      const head = await awsJson<{ ContentLength: number }>(['s3api', 'head-object', '--bucket', 'cli', '--key', 'copied.txt'], 2);
      expect(head.ContentLength).toBe('content of a.txt'.length);

      const pages = await awsJson<{ Contents: { Key: string }[] }>(['s3api', 'list-objects-v2', '--bucket', 'cli', '--prefix', 'tree/', '--page-size', '2']);
      expect(pages.Contents.map((c) => c.Key).sort()).toEqual(names.map((n) => `tree/${n}`).sort());
      const first = await awsJson<{ Contents: { Key: string }[]; NextToken?: string }>(['s3api', 'list-objects-v2', '--bucket', 'cli', '--prefix', 'tree/', '--max-items', '2']);
      expect(first.Contents).toHaveLength(2);
      expect(first.NextToken).toBeDefined();
      const rest = await awsJson<{ Contents: { Key: string }[] }>(['s3api', 'list-objects-v2', '--bucket', 'cli', '--prefix', 'tree/', '--starting-token', first.NextToken!]);
      expect([...first.Contents, ...rest.Contents].map((c) => c.Key).sort()).toEqual(names.map((n) => `tree/${n}`).sort());

      const versions = await awsJson<{ Versions: { Key: string; VersionId: string; IsLatest: boolean }[] }>(['s3api', 'list-object-versions', '--bucket', 'cli', '--prefix', 'tree/sub/']);
      expect(versions.Versions.map((v) => [v.Key, v.VersionId, v.IsLatest])).toEqual([['tree/sub/b.txt', 'null', true], ['tree/sub/deeper/c d.txt', 'null', true]]);

      const del = await awsJson<{ Deleted: { Key: string }[] }>(['s3api', 'delete-objects', '--bucket', 'cli', '--delete', JSON.stringify({ Objects: [{ Key: 'copied.txt' }, { Key: 'tree/0001' }] })]);
      expect(del.Deleted.map((d) => d.Key).sort()).toEqual(['copied.txt', 'tree/0001']);
      await aws(['s3', 'rm', 's3://cli', '--recursive'], 1);
      expect((await aws(['s3', 'ls', 's3://cli', '--recursive'])).trim()).toBe('');
      await aws(['s3', 'rb', 's3://cli']);
      expect(await aws(['s3', 'ls'])).not.toMatch(/ cli\n/);
    }, 120_000);
  });

  describe('rclone', () => {
    const conf = () => path.join(s3.home, 'rclone.conf');
    const rclone = async (args: string[]) => ok(await runTool('rclone', ['--config', conf(), '--retries', '1', '--low-level-retries', '2', ...args], { home: s3.home, timeoutMs: 180_000 }), `rclone ${args[0]}`);

    it('syncs a tree of 200 files with odd names both ways, and check finds them equal', async () => {
      await writeFile(conf(), `[shoal]\ntype = s3\nprovider = Other\nenv_auth = false\naccess_key_id = ${S3_KEY.id}\nsecret_access_key = ${S3_KEY.secret}\nendpoint = ${s3.endpoints[1]}\nregion = us-east-1\n`);
      const tree = path.join(work, 'rclone-up');
      const odd = ['&+-é"', ' lead space', 'per%cent', 'a%2Fb', 'plus+sign', 'ü ñ 漢字', 'hash#tag', 'q?mark', 'semi;colon', 'tilde~'];
      for (let i = 0; i < 200; i++) {
        const dir = path.join(tree, `d${i % 7}`, i % 3 === 0 ? odd[i % odd.length] : 'plain');
        await mkdir(dir, { recursive: true });
        await writeFile(path.join(dir, `${odd[(i * 7) % odd.length]} ${i}.txt`), randomBytes(100 + i * 37));
      }
      await rclone(['mkdir', 'shoal:rclone']);
      await rclone(['sync', tree, 'shoal:rclone/tree']);
      await rclone(['check', tree, 'shoal:rclone/tree']);
      const listed = (await rclone(['lsf', '-R', '--files-only', 'shoal:rclone/tree'])).trim().split('\n');
      expect(listed).toHaveLength(200);
      // Change the remote side, then sync it back down into a fresh tree and compare.
      await rclone(['deletefile', `shoal:rclone/tree/${listed[0]}`]);
      const down = path.join(work, 'rclone-down');
      await rclone(['sync', 'shoal:rclone/tree', down]);
      await rclone(['check', down, 'shoal:rclone/tree']);
      const count = async (dir: string): Promise<number> => (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).length;
      expect(await count(down)).toBe(199);
    }, 240_000);
  });

  describe('s3cmd', () => {
    const cfg = () => path.join(s3.home, '.s3cfg');
    const s3cmd = async (args: string[]) => ok(await runTool('s3cmd', ['-c', cfg(), ...args], { home: s3.home, timeoutMs: 180_000 }), `s3cmd ${args[0]}`);

    it('put, get, ls and del, including a multipart put and odd keys', async () => {
      const host = s3.endpoints[2].replace('http://', '');
      await writeFile(cfg(), `[default]\naccess_key = ${S3_KEY.id}\nsecret_key = ${S3_KEY.secret}\nhost_base = ${host}\nhost_bucket = ${host}\nuse_https = False\nsignature_v2 = False\nbucket_location = us-east-1\ncheck_ssl_certificate = False\n`);
      await s3cmd(['mb', 's3://s3cmd']);
      const file = path.join(work, 's3cmd.bin');
      const bytes = randomBytes(12 * MiB + 5);
      await writeFile(file, bytes);
      await s3cmd(['put', '--multipart-chunk-size-mb=5', file, 's3://s3cmd/big.bin']);
      await s3cmd(['put', file, 's3://s3cmd/odd &+-é" a%2Fb']);
      const ls = await s3cmd(['ls', 's3://s3cmd/']);
      expect(ls).toContain('s3://s3cmd/big.bin');
      expect(ls).toContain('s3://s3cmd/odd &+-é" a%2Fb');
      for (const key of ['big.bin', 'odd &+-é" a%2Fb']) {
        const out = path.join(work, 's3cmd.out');
        await s3cmd(['get', '--force', `s3://s3cmd/${key}`, out]);
        expect(sha(await readFile(out))).toBe(sha(bytes));
        await rm(out);
      }
      await s3cmd(['del', 's3://s3cmd/big.bin', 's3://s3cmd/odd &+-é" a%2Fb']);
      expect((await s3cmd(['ls', 's3://s3cmd/'])).trim()).toBe('');
      await s3cmd(['rb', 's3://s3cmd']);
    }, 120_000);

    it('also with Signature V2 (signature_v2 = True)', async () => {
      const host = s3.endpoints[0].replace('http://', '');
      const v2 = path.join(s3.home, '.s3cfg-v2');
      await writeFile(v2, `[default]\naccess_key = ${S3_KEY.id}\nsecret_key = ${S3_KEY.secret}\nhost_base = ${host}\nhost_bucket = ${host}\nuse_https = False\nsignature_v2 = True\n`);
      const run = async (args: string[]) => ok(await runTool('s3cmd', ['-c', v2, ...args], { home: s3.home, timeoutMs: 60_000 }), `s3cmd (V2) ${args[0]}`);
      await run(['mb', 's3://s3cmd-v2']);
      const file = path.join(work, 'v2.txt');
      await writeFile(file, 'signed the old way');
      await run(['put', file, 's3://s3cmd-v2/v2 é+.txt']);
      expect(await run(['ls', 's3://s3cmd-v2/'])).toContain('s3://s3cmd-v2/v2 é+.txt');
      const out = path.join(work, 'v2.out');
      await run(['get', '--force', 's3://s3cmd-v2/v2 é+.txt', out]);
      expect(await readFile(out, 'utf8')).toBe('signed the old way');
      await run(['del', 's3://s3cmd-v2/v2 é+.txt']);
      await run(['rb', 's3://s3cmd-v2']);
    }, 60_000);
  });
});
