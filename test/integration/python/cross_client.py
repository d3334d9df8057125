"""Cross-client check driven by cross-client.test.ts.

read:  consume `count` records from `topic` with Confluent's AvroDeserializer, print them as JSON lines.
write: produce one record to `topic` with the schema already registered under `<topic>-value`
       (auto.register.schemas=False, use.latest.version=True), value read from stdin as JSON.
"""
import faulthandler
import json
import sys
import time
import uuid

from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext, StringSerializer


T0 = time.monotonic()


def step(what: str) -> None:
    """One line per step on stderr, with the seconds since start: a failure shows where time went."""
    print(f"[{time.monotonic() - T0:7.2f}s] {what}", file=sys.stderr, flush=True)


def main() -> None:
    mode, bootstrap, registry_url, topic = sys.argv[1:5]
    # Still running after 20 s (a run takes 1-3 s): every thread's stack on stderr, every 20 s, so a
    # hang names the call it is in (the test reports stderr when it gives up).
    faulthandler.dump_traceback_later(20, repeat=True)
    step(f"{mode} {topic}")
    # The client's default is no timeout at all (httpx timeout=None): a registry that does not answer
    # would hang this process until the test kills it with nothing on stderr, as one loaded CI run
    # showed. 30 s per request, so such a hang fails with the registry's read timeout named.
    sr = SchemaRegistryClient({"url": registry_url, "timeout": 30})
    if mode == "read":
        count = int(sys.argv[5])
        deser = AvroDeserializer(sr)
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"py-{uuid.uuid4()}", "auto.offset.reset": "earliest"})
        c.subscribe([topic])
        step("consumer subscribed")
        seen = 0
        polls = 0
        while seen < count and polls < 60:
            msg = c.poll(1.0)
            polls += 1
            if msg is None:
                continue
            if msg.error():
                raise RuntimeError(str(msg.error()))
            step(f"record at offset {msg.offset()} after {polls} polls; fetching its schema")
            value = deser(msg.value(), SerializationContext(topic, MessageField.VALUE))
            step("decoded")
            headers = {k: v.decode() for k, v in (msg.headers() or [])}
            print(json.dumps({"key": msg.key().decode(), "headers": headers, "schemaId": int.from_bytes(msg.value()[1:5], "big"), "value": value}), flush=True)
            seen += 1
        step("closing the consumer")
        c.close()
        step("consumer closed")
        if seen < count:
            raise SystemExit(f"read {seen} of {count} records from {topic}")
    elif mode == "write":
        value = json.load(sys.stdin)
        ser = AvroSerializer(sr, None, conf={"auto.register.schemas": False, "use.latest.version": True})
        p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
        key = "jira:PROJ:issue:10001"
        step("encoding (fetches the subject's latest schema)")
        encoded = ser(value, SerializationContext(topic, MessageField.VALUE))
        step("encoded; producing")
        p.produce(topic, key=StringSerializer()(key), value=encoded, headers={"written-by": "python"})
        if p.flush(30) != 0:
            raise SystemExit("python producer: record not delivered within 30 s")
        step("delivered")
        print(json.dumps({"written": key}), flush=True)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
