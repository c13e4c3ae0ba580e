package embeddedkafka

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// helperEnv makes the test binary act as a standalone broker process so a
// test can SIGKILL it.
const helperEnv = "EMBEDDEDKAFKA_TEST_HELPER_DATADIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		os.Exit(runHelper(dir))
	}
	os.Exit(m.Run())
}

// runHelper starts a broker on dir, prints its address and waits to be
// killed. It exits on its own after a minute so it never outlives a test run.
func runHelper(dir string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := Start(ctx, Config{DataDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("ADDR %s\n", b.Addr())
	time.Sleep(time.Minute)
	return 2
}

func TestConfigValidate(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		scenario string
		cfg      Config
		wantErr  string
	}{
		{scenario: "zero value is in-memory on a free port", cfg: Config{}},
		{scenario: "data dir that does not exist yet", cfg: Config{DataDir: filepath.Join(t.TempDir(), "new")}},
		{scenario: "negative port", cfg: Config{Port: -1}, wantErr: "Port -1 is out of range"},
		{scenario: "port too large", cfg: Config{Port: 70000}, wantErr: "out of range"},
		{scenario: "data dir is a file", cfg: Config{DataDir: file}, wantErr: "is a file"},
		{scenario: "negative session timeout", cfg: Config{GroupMinSessionTimeout: -time.Second}, wantErr: "negative"},
		{scenario: "tiny session timeout", cfg: Config{GroupMinSessionTimeout: time.Millisecond}, wantErr: "at least 100ms"},
		{scenario: "SASL users of every mechanism", cfg: Config{SASL: []SASLUser{
			{Mechanism: SASLScramSHA512, Username: "a", Password: "p"}, {Mechanism: SASLScramSHA256, Username: "a", Password: "p"},
			{Mechanism: SASLPlain, Username: "b", Password: "p"}}}},
		{scenario: "unknown SASL mechanism", cfg: Config{SASL: []SASLUser{{Mechanism: "GSSAPI", Username: "a", Password: "p"}}},
			wantErr: `SASL[0].Mechanism "GSSAPI" is not one of`},
		{scenario: "SASL user without a password", cfg: Config{SASL: []SASLUser{{Mechanism: SASLPlain, Username: "a"}}},
			wantErr: "SASL[0] (PLAIN): give both Username and Password"},
		{scenario: "SASL user listed twice", cfg: Config{SASL: []SASLUser{{Mechanism: SASLPlain, Username: "a", Password: "p"}, {Mechanism: SASLPlain, Username: "a", Password: "q"}}},
			wantErr: `SASL[1]: user "a" of PLAIN is listed twice`},
		{scenario: "TLS without a certificate", cfg: Config{TLS: &tls.Config{}}, wantErr: "TLS has no server certificate"},
		{scenario: "retention of an hour, 64 MiB a partition, checked every 10s", cfg: Config{Retention: time.Hour, RetentionBytes: 64 << 20, RetentionCheckInterval: 10 * time.Second}},
		{scenario: "no retention at all", cfg: Config{Retention: -1}},
		{scenario: "retention checked every microsecond", cfg: Config{RetentionCheckInterval: time.Microsecond}, wantErr: "RetentionCheckInterval 1µs is too small"},
		{scenario: "negative retention check interval", cfg: Config{RetentionCheckInterval: -time.Second}, wantErr: "RetentionCheckInterval -1s is too small"},
		{scenario: "retention below a millisecond", cfg: Config{Retention: time.Microsecond}, wantErr: "Retention 1µs is below a millisecond"},
		{scenario: "ACLs of users", cfg: Config{ACLs: true, SASL: []SASLUser{{Mechanism: SASLScramSHA512, Username: "a", Password: "p",
			Allow: []ACL{{Resource: "topic", Name: "push.", Prefixed: true, Operation: "Describe"}, {Resource: "group", Name: "g", Operation: "Read"},
				{Resource: "cluster", Name: "kafka-cluster", Operation: "Create"}}}}}},
		{scenario: "ACLs without users", cfg: Config{ACLs: true}, wantErr: "ACLs need SASL users"},
		{scenario: "ACL of an unknown resource type", cfg: Config{ACLs: true, SASL: []SASLUser{{Mechanism: SASLPlain, Username: "a", Password: "p",
			Allow: []ACL{{Resource: "queue", Name: "q", Operation: "Read"}}}}}, wantErr: `SASL[0] (a).Allow[0]: resource "queue": use topic, group or cluster`},
		{scenario: "ACL of an unknown operation", cfg: Config{ACLs: true, SASL: []SASLUser{{Mechanism: SASLPlain, Username: "a", Password: "p",
			Allow: []ACL{{Resource: "topic", Name: "t", Operation: "Peek"}}}}}, wantErr: `operation "Peek": use Read, Write`},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

// brokerProc is a broker under test, in this process or in a child process.
type brokerProc struct {
	addr  string
	close func(t *testing.T) // stops the broker the way the scenario says
}

func startInProcess(t *testing.T, ctx context.Context, dir string) brokerProc {
	t.Helper()
	b, err := Start(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return brokerProc{addr: b.Addr(), close: func(t *testing.T) {
		if err := b.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}}
}

func startChildProcess(t *testing.T, ctx context.Context, dir string) brokerProc {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting broker process: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading broker address from child: %v", err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if !ok {
		t.Fatalf("unexpected child output %q", line)
	}
	return brokerProc{addr: addr, close: func(t *testing.T) {
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("SIGKILL broker: %v", err)
		}
		_ = cmd.Wait()
	}}
}

// TestRestartKeepsRecordsAndOffsets writes records and a group commit,
// stops the broker, starts a new one on the same directory and checks that
// both are still there.
func TestRestartKeepsRecordsAndOffsets(t *testing.T) {
	tests := []struct {
		scenario string
		start    func(t *testing.T, ctx context.Context, dir string) brokerProc
	}{
		{scenario: "clean Close then restart", start: startInProcess},
		{scenario: "SIGKILL of the broker process then restart", start: startChildProcess},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			dir := t.TempDir()
			const (
				topic      = "persist.records"
				group      = "persist.group"
				partitions = 3
				total      = 30
				consumed   = 12
			)

			first := tt.start(t, ctx, dir)
			createTopic(t, ctx, first.addr, topic, partitions)
			var want []string
			msgs := make([]kafka.Message, total)
			for i := range msgs {
				v := fmt.Sprintf("value-%02d", i)
				want = append(want, v)
				msgs[i] = kafka.Message{Key: []byte(fmt.Sprintf("key-%d", i%7)), Value: []byte(v)}
			}
			w := &kafka.Writer{
				Addr: kafka.TCP(first.addr), Topic: topic, Balancer: &kafka.Murmur2Balancer{},
				RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond,
			}
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				t.Fatalf("WriteMessages: %v", err)
			}
			_ = w.Close()

			committed := consumeAndCommit(t, ctx, first.addr, topic, group, consumed)
			first.close(t)

			second := startInProcess(t, ctx, dir)
			got := offsetsOf(t, ctx, second.addr, topic, group, partitions)
			for p, off := range committed {
				if got[p] != off {
					t.Errorf("partition %d committed offset after restart = %d, want %d", p, got[p], off)
				}
			}
			values := readAll(t, ctx, second.addr, topic, partitions, total)
			sort.Strings(values)
			if strings.Join(values, ",") != strings.Join(want, ",") {
				t.Fatalf("records after restart = %v, want %v", values, want)
			}
		})
	}
}

func createTopic(t *testing.T, ctx context.Context, addr, topic string, partitions int) {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(addr)}
	resp, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: partitions, ReplicationFactor: 1,
	}}})
	if err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}
	if err := resp.Errors[topic]; err != nil {
		t.Fatalf("CreateTopics %s: %v", topic, err)
	}
}

// consumeAndCommit reads n records in a consumer group, commits them and
// returns the committed offset per partition.
func consumeAndCommit(t *testing.T, ctx context.Context, addr, topic, group string, n int) map[int]int64 {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{addr}, GroupID: group, Topic: topic, StartOffset: kafka.FirstOffset,
		MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond, HeartbeatInterval: time.Second,
		SessionTimeout: 6 * time.Second, JoinGroupBackoff: 200 * time.Millisecond,
	})
	defer func() { _ = r.Close() }()
	committed := map[int]int64{}
	var batch []kafka.Message
	for len(batch) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("FetchMessage: %v", err)
		}
		batch = append(batch, m)
		committed[m.Partition] = m.Offset + 1
	}
	if err := r.CommitMessages(ctx, batch...); err != nil {
		t.Fatalf("CommitMessages: %v", err)
	}
	return committed
}

func offsetsOf(t *testing.T, ctx context.Context, addr, topic, group string, partitions int) map[int]int64 {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(addr)}
	ps := make([]int, partitions)
	for i := range ps {
		ps[i] = i
	}
	resp, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ps}})
	if err != nil {
		t.Fatalf("OffsetFetch: %v", err)
	}
	if resp.Error != nil {
		t.Fatalf("OffsetFetch: %v", resp.Error)
	}
	got := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("OffsetFetch partition %d: %v", p.Partition, p.Error)
		}
		got[p.Partition] = p.CommittedOffset
	}
	return got
}

// readAll reads every partition from the start until n records were seen.
func readAll(t *testing.T, ctx context.Context, addr, topic string, partitions, n int) []string {
	t.Helper()
	var values []string
	for p := 0; p < partitions; p++ {
		c := &kafka.Client{Addr: kafka.TCP(addr)}
		lo, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
			topic: {kafka.LastOffsetOf(p)},
		}})
		if err != nil {
			t.Fatalf("ListOffsets: %v", err)
		}
		end := lo.Topics[topic][0].LastOffset
		if end == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: []string{addr}, Topic: topic, Partition: p, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond,
		})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				_ = r.Close()
				t.Fatalf("reading partition %d: %v", p, err)
			}
			values = append(values, string(m.Value))
			if m.Offset+1 >= end {
				break
			}
		}
		_ = r.Close()
	}
	if len(values) != n {
		t.Fatalf("read %d records, want %d", len(values), n)
	}
	return values
}

func TestDataDirIsExclusive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dir := t.TempDir()
	b, err := Start(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if _, err := Start(ctx, Config{DataDir: dir}); err == nil || !strings.Contains(err.Error(), "another broker") {
		t.Fatalf("second Start on the same dir = %v, want lock error", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	b2, err := Start(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatalf("Start after Close: %v", err)
	}
	if err := b2.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestAutoTopicCreationIsOff(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := Start(ctx, Config{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer func() { _ = b.Close() }()
	w := &kafka.Writer{
		Addr: kafka.TCP(b.Addr()), Topic: "never.created", AllowAutoTopicCreation: true,
		BatchTimeout: time.Millisecond, MaxAttempts: 1,
	}
	defer func() { _ = w.Close() }()
	err = w.WriteMessages(ctx, kafka.Message{Value: []byte("x")})
	if !errors.Is(err, kafka.UnknownTopicOrPartition) {
		t.Fatalf("write to a topic nobody created = %v, want UnknownTopicOrPartition", err)
	}
}

func TestStartHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Start(ctx, Config{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start with a cancelled context = %v, want context.Canceled", err)
	}
}

// TestSASLUsersAfterRestart restarts a broker on the same data directory
// with another password and with another user: the configured users are
// the ones let in, never the ones the previous run saved. The directory
// and its lock file are private to the owner.
func TestSASLUsersAfterRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "kafka")
	login := func(t *testing.T, addr, user, password string) error {
		t.Helper()
		m, err := scram.Mechanism(scram.SHA512, user, password)
		if err != nil {
			t.Fatal(err)
		}
		d := &kafka.Dialer{Timeout: 5 * time.Second, SASLMechanism: m}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		defer func() { _ = conn.Close() }()
		_, err = conn.ReadPartitions()
		return err
	}
	for _, tc := range []struct {
		scenario string
		user     SASLUser
		refused  [][2]string // user, password
	}{
		{scenario: "first run", user: SASLUser{Mechanism: SASLScramSHA512, Username: "pushpipe", Password: "first"},
			refused: [][2]string{{"pushpipe", "second"}}},
		{scenario: "password changed", user: SASLUser{Mechanism: SASLScramSHA512, Username: "pushpipe", Password: "second"},
			refused: [][2]string{{"pushpipe", "first"}}},
		{scenario: "user replaced", user: SASLUser{Mechanism: SASLScramSHA512, Username: "pushpipe-2", Password: "third"},
			refused: [][2]string{{"pushpipe", "second"}}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			b, err := Start(ctx, Config{DataDir: dir, SASL: []SASLUser{tc.user}})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = b.Close() }()
			if err := login(t, b.Addr(), tc.user.Username, tc.user.Password); err != nil {
				t.Fatalf("the configured user cannot log in: %v", err)
			}
			for _, r := range tc.refused {
				if err := login(t, b.Addr(), r[0], r[1]); err == nil {
					t.Errorf("user %s with password %q logged in; only the configured user may", r[0], r[1])
				}
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
	for _, p := range []struct {
		path string
		mode os.FileMode
	}{{dir, 0o700}, {filepath.Join(dir, lockFileName), 0o600}} {
		st, err := os.Stat(p.path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != p.mode {
			t.Errorf("%s has mode %s, want %s", p.path, st.Mode().Perm(), p.mode)
		}
	}
}

// TestRetention runs brokers with short retention: the records of a topic
// past Retention or past RetentionBytes are deleted by the broker (its log
// start moves past them and it holds no more than the bound), while a
// compacted topic and a topic with a retention.ms of its own keep theirs.
func TestRetention(t *testing.T) {
	type topic struct {
		name    string
		configs []kafka.ConfigEntry
		// wantKept: every record stays; otherwise the broker must delete
		// records until it holds at most maxBytes (0: none at all).
		wantKept bool
		maxBytes int64
	}
	tests := []struct {
		scenario string
		cfg      Config
		topics   []topic
	}{
		{scenario: "records older than Retention are deleted, compacted topics and a topic's own retention.ms are kept",
			cfg: Config{Retention: 300 * time.Millisecond, RetentionCheckInterval: 50 * time.Millisecond},
			// The kept topics are written first: once the broker cut the
			// last one, their records are older than Retention too.
			topics: []topic{
				{name: "ret.time.compact", configs: []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}, wantKept: true},
				{name: "ret.time.own", configs: []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: "3600000"}}, wantKept: true},
				{name: "ret.time.delete"},
			}},
		{scenario: "a partition above RetentionBytes is cut to the bound, a compacted topic is not",
			cfg: Config{Retention: -1, RetentionBytes: 8 << 10, RetentionCheckInterval: 50 * time.Millisecond},
			topics: []topic{
				{name: "ret.bytes.compact", configs: []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}, wantKept: true},
				{name: "ret.bytes.delete", maxBytes: 8<<10 + 4<<10}, // the bound plus one batch
			}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			b, err := Start(ctx, tt.cfg)
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			defer func() { _ = b.Close() }()
			c := &kafka.Client{Addr: kafka.TCP(b.Addr())}
			const records = 400
			for _, tp := range tt.topics {
				resp, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
					Topic: tp.name, NumPartitions: 1, ReplicationFactor: 1, ConfigEntries: tp.configs}}})
				if err != nil || resp.Errors[tp.name] != nil {
					t.Fatalf("creating %s: %v %v", tp.name, err, resp.Errors[tp.name])
				}
				w := &kafka.Writer{Addr: kafka.TCP(b.Addr()), Topic: tp.name, RequiredAcks: kafka.RequireAll,
					BatchSize: 20, BatchTimeout: time.Millisecond}
				msgs := make([]kafka.Message, records)
				for i := range msgs {
					msgs[i] = kafka.Message{Key: []byte(fmt.Sprintf("key-%03d", i)), Value: []byte(strings.Repeat("v", 100))}
				}
				for i := 0; i < records; i += 20 { // 20 batches of 20 records
					if err := w.WriteMessages(ctx, msgs[i:i+20]...); err != nil {
						t.Fatalf("writing to %s: %v", tp.name, err)
					}
				}
				_ = w.Close()
				if u, _ := b.Usage(tp.name); u.Records != records {
					t.Fatalf("%s holds %d records after the writes, want %d", tp.name, u.Records, records)
				}
			}
			// Wait until every deleting topic is within its bound: the
			// retention checks ran.
			for _, tp := range tt.topics {
				if tp.wantKept {
					continue
				}
				var u TopicUsage
				for {
					u, _ = b.Usage(tp.name)
					if u.Bytes <= tp.maxBytes && u.LogStart > 0 && (tp.maxBytes > 0 || u.Records == 0) {
						break
					}
					select {
					case <-ctx.Done():
						t.Fatalf("%s still holds %d records, %d bytes (log start %d), want at most %d bytes", tp.name, u.Records, u.Bytes, u.LogStart, tp.maxBytes)
					case <-time.After(20 * time.Millisecond):
					}
				}
				if got := firstOffset(t, ctx, c, tp.name); got != u.LogStart {
					t.Errorf("%s: first offset a reader gets = %d, want the log start %d", tp.name, got, u.LogStart)
				}
			}
			for _, tp := range tt.topics {
				if !tp.wantKept {
					continue
				}
				if u, _ := b.Usage(tp.name); u.Records != records || u.LogStart != 0 {
					t.Errorf("%s holds %d records from offset %d, want all %d from 0", tp.name, u.Records, u.LogStart, records)
				}
			}
		})
	}
}

// firstOffset is the first offset of partition 0 of topic that a reader
// can fetch.
func firstOffset(t *testing.T, ctx context.Context, c *kafka.Client, topic string) int64 {
	t.Helper()
	res, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: {kafka.FirstOffsetOf(0)}}})
	if err != nil {
		t.Fatalf("listing the offsets of %s: %v", topic, err)
	}
	p := res.Topics[topic][0]
	if p.Error != nil {
		t.Fatalf("listing the offsets of %s: %v", topic, p.Error)
	}
	return p.FirstOffset
}
