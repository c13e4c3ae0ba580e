// Package embeddedkafka runs a real Kafka-protocol broker inside the
// process, on loopback, for development, demos and tests.
//
// The broker is github.com/twmb/franz-go/pkg/kfake: it speaks the Kafka wire
// protocol, so every client in the project (kafka-go readers and writers,
// consumer groups, offset commits) talks to it exactly as it would talk to a
// real cluster. Production points the same clients at a real Kafka cluster by
// configuration; nothing in the pipeline depends on this package.
//
// Topics are never created implicitly: automatic topic creation stays off,
// so a producer writing to a topic that was not created explicitly fails the
// same way it would against a production cluster with
// auto.create.topics.enable=false.
//
// # Durability
//
// With Config.DataDir set, the broker writes every produced batch, every
// committed group offset and every topic definition to the directory as it
// happens, and reloads them on the next Start with the same directory:
//
//   - After Close, a restart sees every record and every committed offset.
//     Close drains commits that are still queued, writes the partition
//     snapshots and the session state, and closes the files. Always call
//     Close on a clean shutdown (for example on SIGTERM).
//   - After the process is killed (SIGKILL, a crash), a restart still sees
//     every acknowledged record and every acknowledged commit: the writes
//     went to the operating system before the broker answered. On start the
//     broker replays the segment files and ignores a torn tail.
//   - After a power loss or kernel crash, records written since the last
//     fsync can be lost unless Config.SyncWrites is set, which fsyncs every
//     batch (like a real broker with log.flush.interval.messages=1).
//
// One directory belongs to one broker at a time: Start takes an exclusive
// lock on it and fails if another broker holds it.
//
// Without a DataDir the records are kept in memory: such a broker holds in
// RAM every record it keeps, so give a DataDir to a broker that moves
// gigabytes (make run, make bench); with one, the records live in segment
// files and only a small index per record batch stays in memory.
//
// # Retention
//
// Like a cluster with log.retention.ms (and, if set, log.retention.bytes),
// the broker deletes the oldest records of a topic once they are older
// than Config.Retention (a day by default) or once a partition holds more
// than Config.RetentionBytes (no bound by default), checking every
// Config.RetentionCheckInterval. A consumer that falls further behind
// loses records, as it would on such a cluster; a size bound is off by
// default because one partition can take a whole broadcast's events (a
// million deliveries make over a GB of events keyed by one task), which a
// healthy consumer may still be reading. A topic
// created with its own retention.ms or retention.bytes keeps them. A
// compacted topic (cleanup.policy=compact without delete) is never cut by
// age or size, as in Kafka: it keeps the latest record of every key. The
// broker applies this by adding the configs to each CreateTopics request
// that does not set them, so DescribeConfigs shows them on the topic;
// topics created by an earlier version of this package in the same
// DataDir keep what they had.
//
// # Security
//
// By default the broker listens in plaintext and lets any client in, as a
// development broker on loopback may. Config.SASL makes it require SASL
// authentication (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512) of every
// connection, as a production listener with SASL does: a client without
// SASL, or with credentials it does not know, gets its connection closed
// before any request is served. Config.TLS makes it speak TLS only.
// Together they are a SASL_SSL listener, so the project's Kafka security
// can be tested against a real Kafka-protocol broker.
package embeddedkafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DefaultGroupMinSessionTimeout is the smallest consumer-group session
// timeout the broker accepts when Config.GroupMinSessionTimeout is zero. It
// matches the default of a real broker (group.min.session.timeout.ms).
const DefaultGroupMinSessionTimeout = 6 * time.Second

// lockFileName is the file inside DataDir that holds the exclusive lock.
const lockFileName = "pushpipe-broker.lock"

// saslFileName and aclsFileName are the files inside DataDir where kfake
// saves its SASL users and its ACLs.
const (
	saslFileName = "sasl.json"
	aclsFileName = "acls.json"
)

// Config configures an embedded broker. The zero value is valid: an
// in-memory broker on a free loopback port that logs nothing.
type Config struct {
	// DataDir is the directory where the broker keeps topics, records and
	// committed group offsets across restarts. It is created if missing.
	// Empty keeps everything in memory: nothing survives Close.
	DataDir string

	// Port is the TCP port on 127.0.0.1 to listen on. 0 picks a free port;
	// Broker.Addr reports the one chosen.
	Port int

	// SyncWrites fsyncs every produced batch and every group-log entry, so
	// that acknowledged data also survives a power loss. It costs
	// throughput; without it, acknowledged data survives a process kill but
	// not a machine crash.
	SyncWrites bool

	// GroupMinSessionTimeout is the smallest session timeout a consumer
	// group member may ask for. 0 means DefaultGroupMinSessionTimeout.
	// Lower it only in tests that need a dead member to expire quickly.
	GroupMinSessionTimeout time.Duration

	// SASL, when not empty, makes the broker require SASL authentication
	// of every connection, by one of these users. Without ACLs every user
	// may do everything. Empty: no authentication.
	SASL []SASLUser

	// ACLs, with SASL, makes the broker authorize every request as a
	// cluster with an authorizer does: a Superuser may do everything, the
	// other users only what their Allow lists (Describe is implied by
	// Read and Write, as in Kafka).
	ACLs bool

	// TLS, when set, makes the broker accept TLS connections only, with
	// this server configuration (its certificate, and ClientAuth for
	// mutual TLS). Nil: plaintext.
	TLS *tls.Config

	// Retention is how long the broker keeps the records of a topic
	// created without a retention.ms of its own (Kafka's
	// log.retention.ms). 0 means DefaultRetention; negative keeps them
	// until RetentionBytes is reached. Compacted topics are never cut.
	Retention time.Duration

	// RetentionBytes, when positive, bounds each partition of a topic
	// created without a retention.bytes of its own (Kafka's
	// log.retention.bytes): past it the oldest record batches are
	// deleted, whether or not every consumer read them, so it must exceed
	// the largest backlog a consumer may have. 0 or negative: no bound
	// (the default).
	RetentionBytes int64

	// RetentionCheckInterval is how often the broker deletes records past
	// retention and compacts compacted topics (Kafka's
	// log.retention.check.interval.ms). 0 means
	// DefaultRetentionCheckInterval.
	RetentionCheckInterval time.Duration

	// Logger receives the broker's warnings and errors (and its request
	// traces at debug/trace level). The zero Logger discards everything.
	Logger zerolog.Logger
}

// Defaults of the retention settings: generous for a development broker,
// whose consumers never lag hours behind, and bounded in time, so that a
// broker left running does not grow without end.
const (
	DefaultRetention              = 24 * time.Hour
	DefaultRetentionCheckInterval = time.Minute
)

// retention returns the retention.ms and retention.bytes values the
// configuration gives a topic without its own, and the check interval.
func (c Config) retention() (ms, bytes int64, check time.Duration) {
	ms, bytes, check = DefaultRetention.Milliseconds(), -1, DefaultRetentionCheckInterval
	switch {
	case c.Retention < 0:
		ms = -1
	case c.Retention > 0:
		ms = max(1, c.Retention.Milliseconds())
	}
	if c.RetentionBytes > 0 {
		bytes = c.RetentionBytes
	}
	if c.RetentionCheckInterval > 0 {
		check = c.RetentionCheckInterval
	}
	return ms, bytes, check
}

// The SASL mechanisms the broker can require.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// SASLUser is a user the broker lets in when Config.SASL is set.
type SASLUser struct {
	// Mechanism is SASLPlain, SASLScramSHA256 or SASLScramSHA512; the user
	// can log in with that mechanism only.
	Mechanism string
	Username  string
	Password  string
	// Superuser may do everything when Config.ACLs is set.
	Superuser bool
	// Allow lists what the user may do when Config.ACLs is set.
	Allow []ACL
}

// ACL allows a user one operation on Kafka resources (the principal is
// User:<username>).
type ACL struct {
	// Resource is "topic", "group" or "cluster".
	Resource string
	// Name is the resource's name ("kafka-cluster" for the cluster, "*"
	// for every resource of the type), or the start of the names with
	// Prefixed.
	Name     string
	Prefixed bool
	// Operation is Kafka's name of the operation: Read, Write, Create,
	// Describe, DescribeConfigs, Alter, AlterConfigs, Delete or All.
	Operation string
}

// kfakeACL converts a to kfake's form, saying what is wrong with it.
func (a ACL) kfakeACL() (kfake.ACL, error) {
	rt, err := kmsg.ParseACLResourceType(a.Resource)
	if err != nil || (rt != kmsg.ACLResourceTypeTopic && rt != kmsg.ACLResourceTypeGroup && rt != kmsg.ACLResourceTypeCluster) {
		return kfake.ACL{}, fmt.Errorf("resource %q: use topic, group or cluster", a.Resource)
	}
	op, err := kmsg.ParseACLOperation(a.Operation)
	if err != nil || op == kmsg.ACLOperationAny {
		return kfake.ACL{}, fmt.Errorf("operation %q: use Read, Write, Create, Describe, DescribeConfigs, Alter, AlterConfigs, Delete or All", a.Operation)
	}
	if a.Name == "" {
		return kfake.ACL{}, fmt.Errorf("%s ACL without a name", a.Resource)
	}
	pattern := kmsg.ACLResourcePatternTypeLiteral
	if a.Prefixed {
		pattern = kmsg.ACLResourcePatternTypePrefixed
	}
	return kfake.ACL{Resource: rt, Name: a.Name, Pattern: pattern, Operation: op, Allow: true}, nil
}

// Validate reports the first setting that cannot work, saying what to fix.
// Zero values are valid and mean the documented defaults.
func (c Config) Validate() error {
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("embeddedkafka: Port %d is out of range: use 0 (any free port) or 1-65535", c.Port)
	}
	if c.GroupMinSessionTimeout < 0 {
		return fmt.Errorf("embeddedkafka: GroupMinSessionTimeout %s is negative: use 0 for the default %s", c.GroupMinSessionTimeout, DefaultGroupMinSessionTimeout)
	}
	if c.GroupMinSessionTimeout > 0 && c.GroupMinSessionTimeout < 100*time.Millisecond {
		return fmt.Errorf("embeddedkafka: GroupMinSessionTimeout %s is too small to heartbeat within: use at least 100ms", c.GroupMinSessionTimeout)
	}
	mechanisms := []string{SASLPlain, SASLScramSHA256, SASLScramSHA512}
	for i, u := range c.SASL {
		switch {
		case !slices.Contains(mechanisms, u.Mechanism):
			return fmt.Errorf("embeddedkafka: SASL[%d].Mechanism %q is not one of %v", i, u.Mechanism, mechanisms)
		case u.Username == "" || u.Password == "":
			return fmt.Errorf("embeddedkafka: SASL[%d] (%s): give both Username and Password", i, u.Mechanism)
		}
		for _, v := range c.SASL[:i] {
			if v.Mechanism == u.Mechanism && v.Username == u.Username {
				return fmt.Errorf("embeddedkafka: SASL[%d]: user %q of %s is listed twice", i, u.Username, u.Mechanism)
			}
		}
		for j, a := range u.Allow {
			if _, err := a.kfakeACL(); err != nil {
				return fmt.Errorf("embeddedkafka: SASL[%d] (%s).Allow[%d]: %w", i, u.Username, j, err)
			}
		}
	}
	if c.ACLs && len(c.SASL) == 0 {
		return errors.New("embeddedkafka: ACLs need SASL users to tell the principals apart: set SASL")
	}
	if c.RetentionCheckInterval < 0 || (c.RetentionCheckInterval > 0 && c.RetentionCheckInterval < 10*time.Millisecond) {
		return fmt.Errorf("embeddedkafka: RetentionCheckInterval %s is too small: use 0 for the default %s, or at least 10ms", c.RetentionCheckInterval, DefaultRetentionCheckInterval)
	}
	if c.Retention > 0 && c.Retention < time.Millisecond {
		return fmt.Errorf("embeddedkafka: Retention %s is below a millisecond: use at least 1ms, 0 for the default %s or a negative value for no time limit", c.Retention, DefaultRetention)
	}
	if c.TLS != nil && len(c.TLS.Certificates) == 0 && c.TLS.GetCertificate == nil {
		return errors.New("embeddedkafka: TLS has no server certificate: set TLS.Certificates")
	}
	if c.DataDir != "" {
		fi, err := os.Stat(c.DataDir)
		switch {
		case err == nil && !fi.IsDir():
			return fmt.Errorf("embeddedkafka: DataDir %q is a file, not a directory: point it at a directory", c.DataDir)
		case err != nil && !errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("embeddedkafka: DataDir %q cannot be inspected: %w", c.DataDir, err)
		}
	}
	return nil
}

// Broker is a running embedded broker. Its methods are safe for concurrent
// use.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
	lock    *os.File // nil for an in-memory broker
	log     zerolog.Logger

	closeOnce sync.Once
	closeErr  error
}

// Start starts a broker and returns once it accepts connections on
// 127.0.0.1. With cfg.DataDir set it first reloads whatever an earlier
// broker left in that directory, which can take a moment for a large
// directory; ctx bounds the wait for the listener, not the reload.
//
// The caller must Close the broker. Start fails if cfg is invalid, the port
// is taken, the directory is locked by another broker, or the persisted state
// cannot be read.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("embeddedkafka: starting broker: %w", err)
	}
	b := &Broker{log: cfg.Logger.With().Str("component", "embeddedkafka").Logger()}

	retentionMs, retentionBytes, check := cfg.retention()
	brokerConfigs := map[string]string{"log.cleaner.backoff.ms": strconv.FormatInt(max(1, check.Milliseconds()), 10)}
	if retentionBytes > 0 {
		// Retention deletes whole segments only: keep several per
		// partition so the bound holds within a segment's size.
		brokerConfigs["log.segment.bytes"] = strconv.FormatInt(min(max(retentionBytes/8, 1<<20), 100<<20), 10)
	}
	opts := []kfake.Opt{
		kfake.Ports(cfg.Port),
		kfake.WithLogger(zerologAdapter{l: b.log}),
		kfake.GroupMinSessionTimeout(DefaultGroupMinSessionTimeout),
		kfake.BrokerConfigs(brokerConfigs),
	}
	if cfg.GroupMinSessionTimeout > 0 {
		opts = append(opts, kfake.GroupMinSessionTimeout(cfg.GroupMinSessionTimeout))
	}
	if len(cfg.SASL) > 0 {
		opts = append(opts, kfake.EnableSASL())
		for _, u := range cfg.SASL {
			if !cfg.ACLs || u.Superuser {
				opts = append(opts, kfake.Superuser(u.Mechanism, u.Username, u.Password))
				continue
			}
			acls := make([]kfake.ACL, len(u.Allow))
			for i, a := range u.Allow {
				acls[i], _ = a.kfakeACL() // checked by Validate
			}
			opts = append(opts, kfake.User(u.Mechanism, u.Username, u.Password, acls...))
		}
	}
	if cfg.ACLs {
		opts = append(opts, kfake.EnableACLs())
	}
	if cfg.TLS != nil {
		opts = append(opts, kfake.TLS(cfg.TLS.Clone()))
	}
	if cfg.DataDir != "" {
		dir, err := filepath.Abs(cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("embeddedkafka: resolving DataDir %q: %w", cfg.DataDir, err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("embeddedkafka: creating DataDir %q: %w", dir, err)
		}
		lock, err := lockDir(filepath.Join(dir, lockFileName))
		if err != nil {
			return nil, fmt.Errorf("embeddedkafka: locking DataDir %q: %w", dir, err)
		}
		b.lock = lock
		// The broker saves its SASL users and ACLs in the directory and
		// on reload puts the users in place of the configured ones and
		// adds the ACLs to them; the configuration is the only source of
		// both, so a changed password, a removed ACL or an earlier run
		// without SASL must not win.
		for _, f := range []string{saslFileName, aclsFileName} {
			if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
				_ = b.unlock()
				return nil, fmt.Errorf("embeddedkafka: removing the saved users and ACLs of DataDir %q: %w", dir, err)
			}
		}
		opts = append(opts, kfake.DataDir(dir))
		if cfg.SyncWrites {
			opts = append(opts, kfake.SyncWrites())
		}
	}

	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		_ = b.unlock()
		return nil, fmt.Errorf("embeddedkafka: starting broker on 127.0.0.1:%d (data dir %q): %w", cfg.Port, cfg.DataDir, err)
	}
	b.cluster = cluster
	cluster.ControlKey(int16(kmsg.CreateTopics), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if r, ok := req.(*kmsg.CreateTopicsRequest); ok {
			for i := range r.Topics {
				addRetention(&r.Topics[i], retentionMs, retentionBytes)
			}
		}
		return nil, nil, false // the broker goes on to create the topics
	})
	addrs := cluster.ListenAddrs()
	if len(addrs) != 1 {
		_ = b.Close()
		return nil, fmt.Errorf("embeddedkafka: broker listens on %d addresses, want 1", len(addrs))
	}
	b.addr = addrs[0]

	if err := waitListening(ctx, b.addr); err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("embeddedkafka: waiting for broker at %s: %w", b.addr, err)
	}
	b.log.Info().Str("addr", b.addr).Str("data_dir", cfg.DataDir).Bool("sasl", len(cfg.SASL) > 0).Bool("tls", cfg.TLS != nil).Msg("kafka broker started")
	return b, nil
}

// addRetention adds retention.ms and retention.bytes to a topic being
// created that does not set them: ms and bytes for a topic that deletes
// by age, -1 for a compacted one (the broker would otherwise cut a
// compacted topic by age too, which Kafka does not).
func addRetention(t *kmsg.CreateTopicsRequestTopic, ms, bytes int64) {
	var policy string
	has := map[string]bool{}
	for _, c := range t.Configs {
		has[c.Name] = true
		if c.Name == "cleanup.policy" && c.Value != nil {
			policy = *c.Value
		}
	}
	compactOnly := strings.Contains(policy, "compact") && !strings.Contains(policy, "delete")
	for name, v := range map[string]int64{"retention.ms": ms, "retention.bytes": bytes} {
		if has[name] {
			continue
		}
		if compactOnly {
			v = -1
		}
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = name, kmsg.StringPtr(strconv.FormatInt(v, 10))
		t.Configs = append(t.Configs, c)
	}
}

// TopicUsage is what the broker holds of one topic.
type TopicUsage struct {
	// Records is the number of offsets between the log start and the end
	// of every partition (transaction markers included).
	Records int64
	// Bytes is the size of the record batches held.
	Bytes int64
	// LogStart is the sum of the partitions' log start offsets: how many
	// offsets retention (or DeleteRecords) has removed.
	LogStart int64
}

// Usage returns what the broker holds of topic, and false if the topic
// does not exist. Safe for concurrent use.
func (b *Broker) Usage(topic string) (TopicUsage, bool) {
	parts := b.cluster.PartitionInfos(topic)
	if parts == nil {
		return TopicUsage{}, false
	}
	var u TopicUsage
	for _, p := range parts {
		u.Records += p.HighWatermark - p.LogStartOffset
		u.Bytes += p.NumBytes
		u.LogStart += p.LogStartOffset
	}
	return u, true
}

// Addr returns the broker's host:port on 127.0.0.1, the bootstrap address
// clients use.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker: it stops accepting connections, drains offset
// commits already received, persists the state (with a DataDir) and releases
// the directory lock. Clients still connected see their connections fail.
// Close is idempotent and safe to call concurrently; every call returns the
// result of the first.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		if b.cluster != nil {
			b.cluster.Close()
		}
		b.closeErr = b.unlock()
		b.log.Info().Str("addr", b.addr).Msg("kafka broker stopped")
	})
	return b.closeErr
}

func (b *Broker) unlock() error {
	if b.lock == nil {
		return nil
	}
	err := unlockDir(b.lock)
	b.lock = nil
	if err != nil {
		return fmt.Errorf("embeddedkafka: releasing data dir lock: %w", err)
	}
	return nil
}

// waitListening dials addr until a TCP connection succeeds or ctx ends.
func waitListening(ctx context.Context, addr string) error {
	var d net.Dialer
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err == nil {
			return conn.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last dial error: %v)", ctx.Err(), err) //nolint:errorlint // callers classify by the context's error; the last attempt's error is context only, not wrapped
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// zerologAdapter forwards kfake's log lines to zerolog. kfake's info level
// traces every request, so it is mapped to debug, and debug to trace.
type zerologAdapter struct{ l zerolog.Logger }

func (a zerologAdapter) Logf(level kfake.LogLevel, msg string, args ...any) {
	var ev *zerolog.Event
	switch level {
	case kfake.LogLevelError:
		ev = a.l.Error()
	case kfake.LogLevelWarn:
		ev = a.l.Warn()
	case kfake.LogLevelInfo:
		ev = a.l.Debug()
	case kfake.LogLevelDebug:
		ev = a.l.Trace()
	default:
		return
	}
	ev.Str("kfake_level", strconv.Itoa(int(level))).Msgf(msg, args...)
}
