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
// been acknowledged by all in-sync replicas; with a CommitInterval the
// offsets of acknowledged batches are committed together at that interval,
// and when a rebalance revokes the partitions or the stage stops. A crash,
// a kill or a rebalance between produce and commit therefore re-delivers
// the batch (with a CommitInterval, up to that much input), and handlers
// must tolerate seeing a record twice (the schema package's deterministic
// ids make the consequences idempotent).
//
// # Region isolation
//
// A Stage serves one region. It reads only a topic of that region and
// refuses to write outside it: a handler output addressed to another
// region's topic rejects the record that caused it instead of being
// produced.
//
// # Where things are
//
// The Stage runtime is split by concern: handler.go (the BatchHandler
// contract and how the stage calls it), stageconfig.go (StageConfig and its
// Validate), stage.go (NewStage, Run, backoff), fetch.go (the fetch loop and
// batching), flight.go (batches in flight; InTurn in inturn.go), deliver.go
// (producing a batch's outputs), deadletter.go (dead-letter records and
// rejected events), commit.go (offset commits), stagehealth.go (Ready and
// the broker probe) and stopping.go (Stopping, Sleep). follow.go reads
// topics partition by partition without a consumer group (LogReader, for
// compacted topics such as push.control.R and push.schedules.R);
// deadletter.go's DeadLetter and RejectedEvent serve workers that reject
// records outside a Stage too. service.go holds the Service contract that
// stages and the process's other long-running parts share.
package pipeline
