"""Independent S3 client for the S3 sink test (boto3, installed with moto).

  s3_client.py create ENDPOINT BUCKET   create the bucket
  s3_client.py dump ENDPOINT BUCKET     print {key: {"content_type": ..., "lines": [...]}}
                                        for every object, gunzipped
"""
import gzip
import json
import sys

import boto3


def client(endpoint):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret-test",
    )


def main():
    cmd, endpoint, bucket = sys.argv[1:4]
    s3 = client(endpoint)
    if cmd == "create":
        s3.create_bucket(Bucket=bucket)
        return
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            got = s3.get_object(Bucket=bucket, Key=obj["Key"])
            raw = got["Body"].read()
            out[obj["Key"]] = {
                "content_type": got.get("ContentType", ""),
                "lines": gzip.decompress(raw).decode("utf-8").splitlines(),
            }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
