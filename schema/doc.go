// Package schema holds pushpipe's contracts: the records that travel on
// the Kafka topics (requests, bindings, controls, deliveries, events,
// schedules) with their JSON decoding and validation, the mPaaS result
// codes (§7.2.12) a refusal carries, deterministic ids, content and size
// limits, templates and their rendering, and the shapes of statistics
// queries and answers. It does no I/O and imports no database driver, so
// the runtime (pipeline), the producer library and the vendor channels can
// use it without depending on ClickHouse; reading and writing ClickHouse
// is package store.
package schema
