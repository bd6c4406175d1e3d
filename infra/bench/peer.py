#!/usr/bin/env python3
"""The Python/boto3 peer of `make bench`: what a user might write instead of the webhook.

At start-up it does the webhook's work: boto3 clients for DynamoDB, SQS and Secrets
Manager, and the signing secrets read (WEBHOOK_SECRETS_ID). Then it serves the Lambda
Runtime API loop with the standard library: each invocation reads one item from
POSTS_TABLE (the webhook's first call on a request) and answers 200.
"""
import json
import os
import urllib.request

import boto3

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation"

session = boto3.session.Session()
dynamodb = session.client("dynamodb", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"))
sqs = session.client("sqs")
secrets = session.client("secretsmanager")
signing = secrets.get_secret_value(SecretId=os.environ["WEBHOOK_SECRETS_ID"])["SecretString"].split()
table = os.environ["POSTS_TABLE"]

while True:
    with urllib.request.urlopen(API + "/next") as r:
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        json.loads(r.read() or b"null")
    dynamodb.get_item(TableName=table, Key={"pk": {"S": "WEBHOOK#bench"}, "sk": {"S": "WEBHOOK"}})
    answer = json.dumps({"statusCode": 200, "body": "{}"}).encode()
    urllib.request.urlopen(urllib.request.Request(API + "/" + request_id + "/response", data=answer, method="POST")).read()
