"""Streamed PutObject/UploadPart and copies by reference, driven by test/e2e/s3-streaming.e2e-spec.ts.

usage: python3 streaming_checks.py SCENARIO ENDPOINT BUCKET [ARGS...]; prints OK (or a value the spec needs) on
success and exits non-zero with the failed assertion otherwise.
"""
import base64
import hashlib
import random
import sys
import time

from botocore.exceptions import ClientError

from s3_common import MiB, client, code_of, expect


def pattern(n, seed):
    """n bytes that are not all alike (so no two test objects share a blob by accident)."""
    block = hashlib.sha256(seed.encode()).digest() * (MiB // 32)
    return (block * (n // len(block) + 1))[:n]


def b64(digest):
    return base64.b64encode(digest).decode()


def bad_digests(ep, bucket):
    """Multi-MiB bodies whose Content-MD5 / x-amz-checksum-sha256 is wrong: BadDigest, and nothing stored."""
    s3 = client(ep)
    s3.create_bucket(Bucket=bucket)
    body = pattern(24 * MiB, "bad-md5")
    wrong_md5 = b64(hashlib.md5(body + b"x").digest())
    expect(code_of(lambda: s3.put_object(Bucket=bucket, Key="bad-md5", Body=body, ContentMD5=wrong_md5)), ("BadDigest", 400), "wrong Content-MD5")
    body = pattern(24 * MiB, "bad-sha")
    wrong_sha = b64(hashlib.sha256(body + b"x").digest())
    expect(code_of(lambda: s3.put_object(Bucket=bucket, Key="bad-sha", Body=body, ChecksumSHA256=wrong_sha)), ("BadDigest", 400), "wrong x-amz-checksum-sha256")
    up = s3.create_multipart_upload(Bucket=bucket, Key="bad-part")["UploadId"]
    part = pattern(8 * MiB, "bad-part")
    expect(code_of(lambda: s3.upload_part(Bucket=bucket, Key="bad-part", UploadId=up, PartNumber=1, Body=part, ContentMD5=b64(hashlib.md5(b"other").digest()))), ("BadDigest", 400), "wrong Content-MD5 on UploadPart")
    expect(s3.list_parts(Bucket=bucket, Key="bad-part", UploadId=up).get("Parts", []), [], "no part after BadDigest")
    for key in ("bad-md5", "bad-sha"):
        expect(code_of(lambda: s3.head_object(Bucket=bucket, Key=key)), ("404", 404), f"{key} after BadDigest")
    # The same bodies with the right digests are stored, with the MD5 as ETag.
    good = s3.put_object(Bucket=bucket, Key="good", Body=body, ChecksumSHA256=b64(hashlib.sha256(body).digest()))
    expect(good["ETag"], f'"{hashlib.md5(body).hexdigest()}"', "ETag of a good PutObject")
    expect(s3.head_object(Bucket=bucket, Key="good")["ETag"], good["ETag"], "HeadObject ETag")
    print(up)


def put_file(ep, bucket, key, path):
    """PutObject of a (large, sparse) file; prints the ETag."""
    s3 = client(ep)
    s3.create_bucket(Bucket=bucket)
    with open(path, "rb") as f:
        out = s3.put_object(Bucket=bucket, Key=key, Body=f)
    print(out["ETag"].strip('"'))


def copy_then_delete(ep, bucket, size_mib):
    """CopyObject (plain and multipart sources, same and other bucket), then the sources are deleted."""
    s3 = client(ep)
    s3.create_bucket(Bucket=bucket)
    other = bucket + "-other"
    s3.create_bucket(Bucket=other)
    body = pattern(int(size_mib) * MiB, bucket)
    s3.put_object(Bucket=bucket, Key="plain", Body=body, Metadata={"who": "src"})
    up = s3.create_multipart_upload(Bucket=bucket, Key="multi")["UploadId"]
    half = len(body) // 2
    etags = [s3.upload_part(Bucket=bucket, Key="multi", UploadId=up, PartNumber=i + 1, Body=chunk)["ETag"] for i, chunk in enumerate([body[:half], body[half:]])]
    s3.complete_multipart_upload(Bucket=bucket, Key="multi", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
    multi_etag = s3.head_object(Bucket=bucket, Key="multi")["ETag"]
    c1 = s3.copy_object(Bucket=bucket, Key="plain-copy", CopySource={"Bucket": bucket, "Key": "plain"})
    expect(c1["CopyObjectResult"]["ETag"], f'"{hashlib.md5(body).hexdigest()}"', "ETag of a copy")
    s3.copy_object(Bucket=other, Key="plain-copy", CopySource={"Bucket": bucket, "Key": "plain"}, MetadataDirective="REPLACE", Metadata={"who": "copy"}, ContentType="text/x-copy")
    c3 = s3.copy_object(Bucket=other, Key="multi-copy", CopySource={"Bucket": bucket, "Key": "multi"})
    expect(c3["CopyObjectResult"]["ETag"], multi_etag, "a multipart copy keeps its ETag")
    head = s3.head_object(Bucket=other, Key="plain-copy")
    expect((head["Metadata"], head["ContentType"]), ({"who": "copy"}, "text/x-copy"), "REPLACE metadata on a copy")
    s3.delete_object(Bucket=bucket, Key="plain")
    s3.delete_object(Bucket=bucket, Key="multi")
    print(hashlib.sha256(body).hexdigest())


def part_copy(ep, bucket):
    """UploadPartCopy: whole pieces (a plain object, one part of a multipart one) by reference, a partial range
    streamed; the assembled copy survives the deletion of its sources."""
    s3 = client(ep)
    s3.create_bucket(Bucket=bucket)
    a, b, plain = pattern(5 * MiB, "pc-a"), pattern(3 * MiB, "pc-b"), pattern(6 * MiB, "pc-plain")
    up = s3.create_multipart_upload(Bucket=bucket, Key="src")["UploadId"]
    etags = [s3.upload_part(Bucket=bucket, Key="src", UploadId=up, PartNumber=i + 1, Body=c)["ETag"] for i, c in enumerate([a, b])]
    s3.complete_multipart_upload(Bucket=bucket, Key="src", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
    s3.put_object(Bucket=bucket, Key="plain", Body=plain)
    up = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    copies = [
        ({"Bucket": bucket, "Key": "plain"}, None, plain),  # whole plain object: by reference
        ({"Bucket": bucket, "Key": "src"}, f"bytes=0-{5 * MiB - 1}", a),  # exactly part 1: by reference
        ({"Bucket": bucket, "Key": "src"}, f"bytes=1-{5 * MiB}", (a + b)[1:5 * MiB + 1]),  # across parts: streamed
        ({"Bucket": bucket, "Key": "src"}, f"bytes={5 * MiB}-{8 * MiB - 1}", b),  # exactly part 2 (last): by reference
    ]
    parts = []
    for i, (source, rng, expected) in enumerate(copies):
        kw = {"CopySourceRange": rng} if rng else {}
        etag = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=up, PartNumber=i + 1, CopySource=source, **kw)["CopyPartResult"]["ETag"]
        expect(etag, f'"{hashlib.md5(expected).hexdigest()}"', f"ETag of copied part {i + 1}")
        parts.append({"PartNumber": i + 1, "ETag": etag})
    s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=up, MultipartUpload={"Parts": parts})
    s3.delete_object(Bucket=bucket, Key="src")
    s3.delete_object(Bucket=bucket, Key="plain")
    print(hashlib.sha256(b"".join(c[2] for c in copies)).hexdigest())


def read_one(ep, bucket, key, sha):
    data = client(ep).get_object(Bucket=bucket, Key=key)["Body"].read()
    expect(hashlib.sha256(data).hexdigest(), sha, f"bytes of {bucket}/{key}")
    print("OK")


def read_back(ep, bucket, sha):
    """The copies read whole and by range after their sources were deleted."""
    s3 = client(ep)
    for b, k in ((bucket, "plain-copy"), (bucket + "-other", "plain-copy"), (bucket + "-other", "multi-copy")):
        data = s3.get_object(Bucket=b, Key=k)["Body"].read()
        expect(hashlib.sha256(data).hexdigest(), sha, f"bytes of {b}/{k}")
        mid = len(data) // 2
        ranged = s3.get_object(Bucket=b, Key=k, Range=f"bytes={mid - 10}-{mid + 10}")["Body"].read()
        expect(ranged, data[mid - 10:mid + 11], f"range of {b}/{k}")
    print("OK")


def race(ep_list, bucket, rounds):
    """Writers on every node race conditional PutObjects for one key: If-None-Match: * (create), then If-Match (replace)."""
    import threading
    endpoints = ep_list.split(",")
    s3 = client(endpoints[0])
    s3.create_bucket(Bucket=bucket)
    writers = 6
    clients = [client(endpoints[i % len(endpoints)]) for i in range(writers)]
    for r in range(int(rounds)):
        for mode in ("create", "replace"):
            key = f"race-{r}"
            etag = None if mode == "create" else s3.head_object(Bucket=bucket, Key=key)["ETag"]
            results = [None] * writers
            barrier = threading.Barrier(writers)

            def write(i):
                body = f"{mode} {r} writer {i}".encode() * 1000
                cond = {"IfNoneMatch": "*"} if mode == "create" else {"IfMatch": etag}
                barrier.wait()
                for attempt in range(6):
                    try:
                        clients[i].put_object(Bucket=bucket, Key=key, Body=body, **cond)
                        results[i] = ("ok", body)
                        return
                    except ClientError as e:
                        results[i] = (e.response["Error"]["Code"], None)
                        if results[i][0] != "ConditionalRequestConflict":
                            return
                        time.sleep(random.uniform(0.05, 0.3))  # as S3 tells clients: try again

            threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            winners = [b for code, b in results if code == "ok"]
            codes = sorted({code for code, _ in results if code != "ok"})
            assert len(winners) <= 1, f"round {r} {mode}: {len(winners)} conditional writers all succeeded"
            assert set(codes) <= {"PreconditionFailed", "ConditionalRequestConflict"}, f"round {r} {mode}: {codes}"
            stored = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            if winners:
                expect(stored, winners[0], f"round {r} {mode}: the stored object is the winner's")
            elif mode == "create":
                raise AssertionError(f"round {r}: no create won, even with retries ({codes})")
            print(mode, r, len(winners), codes, file=sys.stderr)
    print("OK")


if __name__ == "__main__":
    scenario, endpoint, *args = sys.argv[1:]
    globals()[scenario](endpoint, *args)
