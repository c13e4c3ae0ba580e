package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"
)

// requestProducer writes the records of one Produce call as one produce
// request per partition leader, holding every topic and partition of the
// call that the leader leads, instead of kafka.Writer's one request per
// partition. It partitions as kafka.Writer with kafka.Murmur2Balancer
// does (the murmur2 hash of the key over the topic's partitions, a random
// partition for a nil key), so a key lands where it always did.
//
// A partition's records go in order: in chunks of at most batchSize
// records and batchBytes bytes, chunk n+1 of a partition only after chunk
// n was acknowledged (and not at all once it failed). A request that fails
// with a retriable error (a temporary Kafka error such as
// NOT_LEADER_OR_FOLLOWER, a leader the transport's metadata no longer
// agrees with, a dropped connection) is sent again, for the partitions it
// failed, after a backoff, to the leaders the metadata then names, up to
// maxAttempts times in all. Acks are all (every in-sync replica); a
// chunk's records are one batch, compressed with compression when it holds
// more than UncompressedRecords records.
type requestProducer struct {
	addr        net.Addr
	addrs       []string
	transport   *kafka.Transport
	balancer    kafka.Murmur2Balancer
	batchSize   int
	batchBytes  int64
	maxAttempts int
	timeout     time.Duration
	backoffMin  time.Duration
	backoffMax  time.Duration
	compression kafka.Compression // of chunks of more than UncompressedRecords records

	partitionLists sync.Map // int (partition count) → []int{0, …, n-1}
}

// topicPartition names one partition of a topic.
type topicPartition struct {
	topic     string
	partition int32
}

// partitionChunk is the records of one call for one topic partition that
// go in one request: idx are indexes into the call's messages, bytes their
// size as recordSize counts it.
type partitionChunk struct {
	topic     string
	partition int32
	leader    int32
	idx       []int
	bytes     int64
}

// produce writes msgs and returns one error per message (nil where it was
// acknowledged), and whether any failed.
func (rp *requestProducer) produce(ctx context.Context, msgs []kafka.Message) ([]error, bool) {
	errs := make([]error, len(msgs))
	failed := false
	fail := func(idx []int, err error) {
		for _, i := range idx {
			errs[i] = err
		}
		failed = true
	}
	meta, err := rp.metadata(ctx, msgs)
	if err != nil {
		fail(allIndexes(len(msgs)), err)
		return errs, failed
	}
	// Each partition's records, in call order, cut into chunks.
	var order []topicPartition
	chunks := map[topicPartition][]*partitionChunk{}
	for i := range msgs {
		m := &msgs[i]
		tm, ok := meta[m.Topic]
		if !ok || tm.err != nil || len(tm.leaders) == 0 {
			e := error(kafka.UnknownTopicOrPartition)
			if ok && tm.err != nil {
				e = tm.err
			}
			fail([]int{i}, e)
			continue
		}
		p := int32(rp.balancer.Balance(kafka.Message{Key: m.Key}, rp.partitionList(len(tm.leaders))...))
		k := topicPartition{m.Topic, p}
		cs, seen := chunks[k]
		if !seen {
			order = append(order, k)
		}
		size := recordSize(Output{Key: m.Key, Value: m.Value, Headers: m.Headers})
		if n := len(cs); n == 0 || len(cs[n-1].idx) >= rp.batchSize || cs[n-1].bytes+size > rp.batchBytes {
			cs = append(cs, &partitionChunk{topic: m.Topic, partition: p, leader: tm.leaders[p]})
		}
		c := cs[len(cs)-1]
		c.idx = append(c.idx, i)
		c.bytes += size
		chunks[k] = cs
	}
	// Round r sends chunk r of every partition that has one; a chunk
	// whose predecessor failed fails with it, so that no record is written
	// after an earlier one of its partition was not.
	for r := 0; ; r++ {
		var round []*partitionChunk
		more := false
		for _, k := range order {
			cs := chunks[k]
			if r >= len(cs) {
				continue
			}
			more = true
			if r > 0 && errs[cs[r-1].idx[0]] != nil {
				fail(cs[r].idx, errs[cs[r-1].idx[0]])
				continue
			}
			round = append(round, cs[r])
		}
		if !more {
			return errs, failed
		}
		if len(round) == 0 {
			continue
		}
		for c, err := range rp.sendRound(ctx, msgs, round) {
			fail(c.idx, err)
		}
	}
}

func allIndexes(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// partitionList returns the partition ids 0…n-1, as kafka.Writer gives
// them to its balancer.
func (rp *requestProducer) partitionList(n int) []int {
	if l, ok := rp.partitionLists.Load(n); ok {
		return l.([]int)
	}
	l := allIndexes(n)
	rp.partitionLists.Store(n, l)
	return l
}

// topicLeaders is what produce needs to know of a topic: the leader of
// each partition (indexed by partition id), or why it cannot be written.
type topicLeaders struct {
	leaders []int32
	err     error
}

// metadata returns the leaders of the topics of msgs from the transport's
// metadata cache (refreshed every MetadataTTL, as for kafka.Writer).
func (rp *requestProducer) metadata(ctx context.Context, msgs []kafka.Message) (map[string]topicLeaders, error) {
	var names []string
	for i := range msgs {
		if !slices.Contains(names, msgs[i].Topic) {
			names = append(names, msgs[i].Topic)
		}
	}
	res, err := rp.transport.RoundTrip(ctx, rp.addr, &metadataAPI.Request{TopicNames: names})
	if err != nil {
		return nil, fmt.Errorf("reading topic metadata: %w", err)
	}
	out := make(map[string]topicLeaders, len(names))
	for _, t := range res.(*metadataAPI.Response).Topics {
		if t.ErrorCode != 0 {
			out[t.Name] = topicLeaders{err: kafka.Error(t.ErrorCode)}
			continue
		}
		leaders := make([]int32, len(t.Partitions))
		for _, p := range t.Partitions {
			if int(p.PartitionIndex) < len(leaders) {
				leaders[p.PartitionIndex] = p.LeaderID
			}
		}
		out[t.Name] = topicLeaders{leaders: leaders}
	}
	return out, nil
}

// sendRound writes chunks (at most one per partition) with one request per
// leader, retrying what failed retriably, and returns the chunks that were
// not acknowledged with their causes.
func (rp *requestProducer) sendRound(ctx context.Context, msgs []kafka.Message, chunks []*partitionChunk) map[*partitionChunk]error {
	failed := map[*partitionChunk]error{}
	pending := chunks
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > 0 {
			d := min(time.Duration(attempt*attempt)*rp.backoffMin, rp.backoffMax)
			if !Pause(ctx, d) {
				for _, c := range pending {
					failed[c] = ctx.Err()
				}
				return failed
			}
			rp.relead(ctx, msgs, pending)
		}
		byLeader := map[int32][]*partitionChunk{}
		var leaders []int32
		for _, c := range pending {
			if _, ok := byLeader[c.leader]; !ok {
				leaders = append(leaders, c.leader)
			}
			byLeader[c.leader] = append(byLeader[c.leader], c)
		}
		results := make([]map[*partitionChunk]error, len(leaders))
		if len(leaders) == 1 {
			results[0] = rp.send(ctx, msgs, byLeader[leaders[0]])
		} else {
			var wg sync.WaitGroup
			for i, l := range leaders {
				wg.Go(func() { results[i] = rp.send(ctx, msgs, byLeader[l]) })
			}
			wg.Wait()
		}
		pending = pending[:0:0]
		last := attempt+1 >= rp.maxAttempts
		for _, res := range results {
			for c, err := range res {
				if !last && retriableProduceError(err) && ctx.Err() == nil {
					pending = append(pending, c)
					continue
				}
				failed[c] = err
			}
		}
	}
	return failed
}

// relead updates the leaders of chunks from the transport's metadata,
// keeping the old leader where the metadata cannot be read.
func (rp *requestProducer) relead(ctx context.Context, msgs []kafka.Message, chunks []*partitionChunk) {
	meta, err := rp.metadata(ctx, msgs)
	if err != nil {
		return
	}
	for _, c := range chunks {
		if tm, ok := meta[c.topic]; ok && tm.err == nil && int(c.partition) < len(tm.leaders) {
			c.leader = tm.leaders[c.partition]
		}
	}
}

// retriableProduceError reports whether a produce request that failed with
// err may succeed when sent again: the Writer's rule (temporary Kafka
// errors, dropped connections), plus a request the transport refused
// because its metadata names other leaders than the chunks were grouped by.
func retriableProduceError(err error) bool {
	var temp interface{ Temporary() bool }
	var leaders *produceAPI.Error
	return (errors.As(err, &temp) && temp.Temporary()) ||
		errors.As(err, &leaders) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}

// send writes chunks, which share a leader, in one produce request and
// returns the chunks that failed with their causes.
func (rp *requestProducer) send(ctx context.Context, msgs []kafka.Message, chunks []*partitionChunk) map[*partitionChunk]error {
	req := &produceAPI.Request{Acks: int16(kafka.RequireAll), Timeout: int32(rp.timeout.Milliseconds())}
	topicAt := map[string]int{}
	for _, c := range chunks {
		t, ok := topicAt[c.topic]
		if !ok {
			t = len(req.Topics)
			topicAt[c.topic] = t
			req.Topics = append(req.Topics, produceAPI.RequestTopic{Topic: c.topic})
		}
		req.Topics[t].Partitions = append(req.Topics[t].Partitions, produceAPI.RequestPartition{
			Partition: c.partition,
			RecordSet: protocol.RecordSet{Attributes: protocol.Attributes(compressionFor(rp.compression, len(c.idx))), Records: &chunkRecords{msgs: msgs, idx: c.idx}},
		})
	}
	rctx, cancel := context.WithTimeout(ctx, rp.timeout)
	defer cancel()
	res, err := rp.transport.RoundTrip(rctx, rp.addr, req)
	failed := map[*partitionChunk]error{}
	if err != nil {
		err = fmt.Errorf("producing to %s: %w", rp.addrs, err)
		for _, c := range chunks {
			failed[c] = err
		}
		return failed
	}
	answered := map[topicPartition]int16{}
	for _, t := range res.(*produceAPI.Response).Topics {
		for _, p := range t.Partitions {
			answered[topicPartition{t.Topic, p.Partition}] = p.ErrorCode
		}
	}
	for _, c := range chunks {
		code, ok := answered[topicPartition{c.topic, c.partition}]
		switch {
		case !ok:
			failed[c] = fmt.Errorf("producing to %s partition %d: %w", c.topic, c.partition, protocol.ErrNoPartition)
		case code != 0:
			failed[c] = kafka.Error(code)
		}
	}
	return failed
}

// chunkRecords reads the records of a chunk for the request encoder, as
// kafka.Writer's own record reader does (the time left for the broker to
// set, keys and values given as is).
type chunkRecords struct {
	msgs   []kafka.Message
	idx    []int
	next   int
	record protocol.Record
	key    bytesRecord
	value  bytesRecord
}

func (r *chunkRecords) ReadRecord() (*protocol.Record, error) {
	if r.next >= len(r.idx) {
		return nil, io.EOF
	}
	m := &r.msgs[r.idx[r.next]]
	r.next++
	r.record = protocol.Record{Time: m.Time, Headers: m.Headers}
	if m.Key != nil {
		r.key.Reset(m.Key)
		r.record.Key = &r.key
	}
	if m.Value != nil {
		r.value.Reset(m.Value)
		r.record.Value = &r.value
	}
	return &r.record, nil
}

type bytesRecord struct{ bytes.Reader }

func (*bytesRecord) Close() error { return nil }
