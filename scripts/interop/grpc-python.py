#!/usr/bin/python3
"""Interop check of Verdict's gRPC server against gRPC C-core (Python grpcio), by hand.

Debian: apt-get install python3-grpcio. Start a sidecar (npm start), mint a token
(npm run -s dev-token), then:

    /usr/bin/python3 scripts/interop/grpc-python.py 127.0.0.1:50051 "$TOKEN"

It learns the services through server reflection (no .proto files), builds the Check request
from the descriptors it got, and calls Check, Health.Check and Health.Watch. Exits 0 when every
answer is what the trades example policy says.
"""
import sys

import grpc
from google.protobuf import descriptor_pb2, message_factory


def reflect(channel, method, questions):
    # The reflection messages are written and read by hand: field 7 (list_services) and field 4
    # (file_containing_symbol) of the request are strings.
    def request(field, value):
        data = value.encode()
        return bytes([(field << 3) | 2, len(data)]) + data
    call = channel.stream_stream(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
    return list(call(iter([request(f, v) for f, v in questions])))


def parse_files(answer):
    # ServerReflectionResponse.file_descriptor_response (4) -> FileDescriptorResponse.file_descriptor_proto (1)
    files = []
    i = 0
    def varint(buf, i):
        shift = value = 0
        while True:
            b = buf[i]; i += 1
            value |= (b & 0x7F) << shift
            if b < 0x80:
                return value, i
            shift += 7
    while i < len(answer):
        key, i = varint(answer, i)
        if key & 7 == 2:
            n, i = varint(answer, i)
            body = answer[i:i + n]; i += n
            if key >> 3 == 4:
                j = 0
                while j < len(body):
                    k, j = varint(body, j)
                    m, j = varint(body, j)
                    files.append(body[j:j + m]); j += m
        elif key & 7 == 0:
            _, i = varint(answer, i)
        else:
            raise ValueError('unexpected wire type')
    return files


def main():
    address, token = sys.argv[1], sys.argv[2]
    channel = grpc.insecure_channel(address)
    answers = reflect(channel, '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', [(7, ''), (4, 'verdict.v1.Authorizer')])
    assert b'verdict.v1.Authorizer' in answers[0], answers[0]
    files = [descriptor_pb2.FileDescriptorProto.FromString(b) for b in parse_files(answers[1])]
    classes = message_factory.GetMessages(files)
    CheckRequest = classes['verdict.v1.CheckRequest']
    CheckResponse = classes['verdict.v1.CheckResponse']
    check = channel.unary_unary('/verdict.v1.Authorizer/Check', request_serializer=lambda m: m.SerializeToString(), response_deserializer=CheckResponse.FromString)
    def ask(owner):
        req = CheckRequest(token=token, action='read')
        req.resource.type = 'trade'
        req.resource.id = 't-1'
        req.resource.properties.update({'owner_id': owner, 'location': 'NY'})
        return check(req, timeout=5)
    allow, deny = ask(2998), ask(1)
    assert allow.allow and not deny.allow, (allow, deny)
    print('Check: allow', allow.decision_id, '/ deny', list(deny.reasons))
    # grpc.health.v1: Check (unary, empty request) and Watch (server streaming).
    health = channel.unary_unary('/grpc.health.v1.Health/Check', request_serializer=lambda b: b, response_deserializer=lambda b: b)
    assert health(b'', timeout=5) == b'\x08\x01', 'not SERVING'
    watch = channel.unary_stream('/grpc.health.v1.Health/Watch', request_serializer=lambda b: b, response_deserializer=lambda b: b)
    stream = watch(b'', timeout=5)
    assert next(stream) == b'\x08\x01'
    stream.cancel()
    print('Health: SERVING (Check and Watch)')
    # Many calls at once on one connection.
    futures = [check.future(CheckRequest(token=token, action='read'), timeout=5) for _ in range(200)]
    assert all(f.result().code != 0 for f in futures)
    print('200 concurrent Checks answered')
    return 0


if __name__ == '__main__':
    sys.exit(main())
