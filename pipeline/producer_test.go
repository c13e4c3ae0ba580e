package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"
)

func TestProducerConfigValidate(t *testing.T) {
	tests := []struct {
		scenario string
		cfg      ProducerConfig
		wantErr  string
	}{
		{scenario: "brokers only", cfg: ProducerConfig{Brokers: []string{"127.0.0.1:9092"}}},
		{scenario: "no brokers", cfg: ProducerConfig{}, wantErr: "Brokers is empty"},
		{scenario: "empty broker", cfg: ProducerConfig{Brokers: []string{""}}, wantErr: "empty address"},
		{scenario: "slow batch timeout", cfg: ProducerConfig{Brokers: []string{"b:1"}, BatchTimeout: 2 * time.Second}, wantErr: "few milliseconds"},
		{scenario: "negative batch size", cfg: ProducerConfig{Brokers: []string{"b:1"}, BatchSize: -1}, wantErr: "BatchSize -1"},
		{scenario: "codec named", cfg: ProducerConfig{Brokers: []string{"b:1"}, Compression: CompressionZstd}},
		{scenario: "unknown codec", cfg: ProducerConfig{Brokers: []string{"b:1"}, Compression: "brotli"}, wantErr: `ProducerConfig.Compression "brotli" is not a codec: use one of none, gzip, snappy, lz4, zstd (empty: snappy)`},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestProducer runs every case on both ways a Producer writes: through
// kafka.Writer (a BatchTimeout above StageBatchTimeout) and one request
// per partition leader for each call (the stages' StageBatchTimeout).
func TestProducer(t *testing.T) {
	for _, kind := range []struct {
		name         string
		batchTimeout time.Duration
	}{
		{"writer", 0},
		{"one request per leader", StageBatchTimeout},
	} {
		t.Run(kind.name, func(t *testing.T) { testProducerKind(t, kind.batchTimeout) })
	}
}

func testProducerKind(t *testing.T, batchTimeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := testTopic(t, ctx, "out", 4)
	other := testTopic(t, ctx, "other", 4) // created before the producer reads the metadata
	p := newTestProducer(t, batchTimeout)

	tests := []struct {
		scenario   string
		outs       []Output
		wantFailed []int
		wantIs     error
	}{
		{
			scenario: "all records acknowledged",
			outs: []Output{
				{Topic: topic, Key: []byte("a"), Value: []byte("1"), Headers: []kafka.Header{{Key: "h", Value: []byte("x")}}},
				{Topic: topic, Key: []byte("b"), Value: []byte("2")},
				{Topic: topic, Value: []byte("no key")},
			},
		},
		{
			scenario:   "unknown topic fails every record",
			outs:       []Output{{Topic: "test.never-created.eu", Value: []byte("x")}},
			wantFailed: []int{0},
			wantIs:     kafka.UnknownTopicOrPartition,
		},
		{
			scenario: "a record too large fails alone",
			outs: []Output{
				{Topic: topic, Key: []byte("a"), Value: []byte("small")},
				{Topic: topic, Key: []byte("a"), Value: bytes.Repeat([]byte("x"), 2<<20)},
			},
			wantFailed: []int{1},
			wantIs:     kafka.MessageSizeTooLarge,
		},
		{
			scenario:   "a record without topic fails alone",
			outs:       []Output{{Value: []byte("x")}, {Topic: topic, Value: []byte("y")}},
			wantFailed: []int{0},
			wantIs:     ErrNoTopic,
		},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			err := p.Produce(ctx, tt.outs)
			if tt.wantFailed == nil {
				if err != nil {
					t.Fatalf("Produce() = %v", err)
				}
				return
			}
			var pe *ProduceError
			if !errors.As(err, &pe) {
				t.Fatalf("Produce() = %v, want a *ProduceError", err)
			}
			if got := pe.Failed(); len(got) != len(tt.wantFailed) || got[0] != tt.wantFailed[0] {
				t.Fatalf("Failed() = %v, want %v", got, tt.wantFailed)
			}
			if !errors.Is(err, tt.wantIs) {
				t.Fatalf("errors.Is(%v, %v) = false", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), "not acknowledged") {
				t.Errorf("error %q does not say what failed", err)
			}
		})
	}

	t.Run("same key same partition", func(t *testing.T) {
		var outs []Output
		for range 20 {
			outs = append(outs, Output{Topic: topic, Key: []byte("device-42"), Value: []byte("v")})
		}
		if err := p.Produce(ctx, outs); err != nil {
			t.Fatal(err)
		}
		parts := map[int]bool{}
		for _, m := range readTopic(t, ctx, topic) {
			if string(m.Key) == "device-42" {
				parts[m.Partition] = true
			}
		}
		if len(parts) != 1 {
			t.Fatalf("key device-42 landed on partitions %v, want one", parts)
		}
	})

	t.Run("calls of every size keep a key's order", func(t *testing.T) {
		// 1, 20, 200 and 1,500 records go through the writers of 16, 128
		// and 1,000 records a batch (with StageBatchTimeout, 1 and 20 go
		// as one request per leader instead); one after the other, a
		// key's records stay in the order they were produced.
		next := 0
		for _, n := range []int{1, 20, 200, 1500, 1} {
			if w := p.writerFor(n); w.BatchSize < n && w != p.writers[len(p.writers)-1] {
				t.Fatalf("a call of %d records went to a writer of %d a batch", n, w.BatchSize)
			}
			outs := make([]Output, n)
			for i := range outs {
				outs[i] = Output{Topic: topic, Key: []byte("ordered"), Value: []byte(strconv.Itoa(next))}
				next++
			}
			if err := p.Produce(ctx, outs); err != nil {
				t.Fatal(err)
			}
		}
		want := 0
		for _, m := range readTopic(t, ctx, topic) {
			if string(m.Key) != "ordered" {
				continue
			}
			if got, _ := strconv.Atoi(string(m.Value)); got != want {
				t.Fatalf("record %d of key ordered holds %s", want, m.Value)
			}
			want++
		}
		if want != next {
			t.Fatalf("read %d records of key ordered, produced %d", want, next)
		}
		if got := []int{p.writerFor(1).BatchSize, p.writerFor(17).BatchSize, p.writerFor(129).BatchSize, p.writerFor(5000).BatchSize}; !slices.Equal(got, []int{16, 128, 1000, 1000}) {
			t.Fatalf("writers chosen for 1, 17, 129, 5000 records have batch sizes %v", got)
		}
	})

	t.Run("several topics in one call land where the key says", func(t *testing.T) {
		// Every key goes to the partition the Java client's murmur2 hash
		// gives (kafka.Murmur2Balancer over partitions 0…3), on both
		// topics of the call, its records in the order given.
		var outs []Output
		for i := range 60 {
			for _, tp := range []string{topic, other} {
				outs = append(outs, Output{Topic: tp, Key: []byte("multi-" + strconv.Itoa(i%15)), Value: []byte(strconv.Itoa(i))})
			}
		}
		if err := p.Produce(ctx, outs); err != nil {
			t.Fatal(err)
		}
		for _, tp := range []string{topic, other} {
			last := map[string]int{}
			n := 0
			for _, m := range readTopic(t, ctx, tp) {
				if !strings.HasPrefix(string(m.Key), "multi-") {
					continue
				}
				n++
				if want := (kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: m.Key}, 0, 1, 2, 3); m.Partition != want {
					t.Errorf("key %s on %s landed on partition %d, murmur2 says %d", m.Key, tp, m.Partition, want)
				}
				v, _ := strconv.Atoi(string(m.Value))
				if prev, ok := last[string(m.Key)]; ok && v <= prev {
					t.Errorf("key %s on %s: record %d after %d", m.Key, tp, v, prev)
				}
				last[string(m.Key)] = v
			}
			if n != 60 {
				t.Errorf("read %d records from %s, produced 60", n, tp)
			}
		}
	})

	t.Run("close is idempotent and ends produce", func(t *testing.T) {
		p2 := newTestProducer(t, batchTimeout)
		if err := p2.Close(); err != nil {
			t.Fatal(err)
		}
		if err := p2.Close(); err != nil {
			t.Fatal(err)
		}
		if err := p2.Produce(ctx, []Output{{Topic: topic, Value: []byte("x")}}); !errors.Is(err, ErrProducerClosed) {
			t.Fatalf("Produce after Close = %v, want ErrProducerClosed", err)
		}
	})
}

func TestRetriableProduceError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"leader moved", kafka.NotLeaderForPartition, true},
		{"request timed out", kafka.RequestTimedOut, true},
		{"transport names another leader", produceAPI.NewError(errors.New("mismatching leaders (1!=2)")), true},
		{"connection reset", fmt.Errorf("producing: %w", syscall.ECONNRESET), true},
		{"connection dropped mid-answer", io.ErrUnexpectedEOF, true},
		{"record too large", kafka.MessageSizeTooLarge, false},
		{"not authorized", kafka.TopicAuthorizationFailed, false},
		{"caller cancelled", context.Canceled, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retriableProduceError(tt.err); got != tt.want {
				t.Fatalf("retriableProduceError(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestProducerChunks checks that a call whose records for one partition
// exceed BatchSize or BatchBytes (so that they go out in several produce
// requests) is written whole, each key's records in the order given.
func TestProducerChunks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		cfg  ProducerConfig
	}{
		{"BatchSize", ProducerConfig{BatchSize: 7}},
		{"BatchBytes", ProducerConfig{BatchBytes: 2000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := testTopic(t, ctx, "chunks", 2)
			cfg := tc.cfg
			cfg.Brokers, cfg.BatchTimeout, cfg.Logger = testBrokers, StageBatchTimeout, testLogger(t)
			p, err := NewProducer(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = p.Close() }()
			outs := make([]Output, 50)
			for i := range outs {
				outs[i] = Output{Topic: topic, Key: []byte("k" + strconv.Itoa(i%3)), Value: append([]byte(strconv.Itoa(i)+" "), make([]byte, 200)...)}
			}
			if err := p.Produce(ctx, outs); err != nil {
				t.Fatal(err)
			}
			last := map[string]int{}
			n := 0
			for _, m := range readTopic(t, ctx, topic) {
				n++
				v, _ := strconv.Atoi(strings.Fields(string(m.Value))[0])
				if prev, ok := last[string(m.Key)]; ok && v <= prev {
					t.Errorf("key %s: record %d after %d", m.Key, v, prev)
				}
				last[string(m.Key)] = v
			}
			if n != len(outs) {
				t.Fatalf("read %d records, produced %d", n, len(outs))
			}
		})
	}
}
