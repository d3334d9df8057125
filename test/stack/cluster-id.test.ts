import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kafkaClusterId } from '../../deploy/local/kafka.ts';

test("a new Kafka cluster id never starts with '-' (kafka-storage would read it as an option)", () => {
  // 1 id in 64 starts with '-' when drawn naively: 20 000 draws miss it with probability ~1e-137.
  for (let i = 0; i < 20_000; i++) {
    const id = kafkaClusterId();
    assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/, id);
  }
});
