// Package pipeline is the runtime every pushpipe worker shares: topic names
// per region, a producer that returns only after every record is
// acknowledged, the consumer-group loop (consume → handle → produce →
// commit) with rejections to the dead-letter topic, Prometheus metrics and
// the health/metrics HTTP server.
//
// # Delivery guarantee
//
// Kafka is at-least-once. A Stage commits a batch's offsets only after every
// record the batch caused (outputs, dead-letter records, rejected events) has
// been acknowledged by all in-sync replicas. A crash, a kill or a rebalance
// between produce and commit therefore re-delivers the batch, and handlers
// must tolerate seeing a record twice (the schema package's deterministic
// ids make the consequences idempotent).
//
// # Region isolation
//
// A Stage serves one region. It reads only a topic of that region and
// refuses to write outside it: a handler output addressed to another
// region's topic rejects the record that caused it instead of being
// produced.
package pipeline
