// Package config is the configuration of the pushpipe binary: where Kafka
// and ClickHouse are (or that the embedded ones should start), which regions
// are served, the apps and their vendor credentials, and the vendor
// endpoints per region. It is read from a YAML file; every field has a
// default so an empty file is a valid development configuration.
package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/middleware"
	"github.com/pushpipe/pushpipe/channels/mipush"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// The log formats of Config.LogFormat.
const (
	LogFormatAuto    = "auto"
	LogFormatConsole = "console"
	LogFormatJSON    = "json"
)

// LogFormats lists the values Config.LogFormat may take.
func LogFormats() []string { return []string{LogFormatAuto, LogFormatConsole, LogFormatJSON} }

// Config is the whole configuration. The zero value plus Defaults is a
// working development setup with embedded Kafka and ClickHouse.
type Config struct {
	// StateDir holds the embedded Kafka and ClickHouse data and bench output.
	StateDir string `yaml:"stateDir"`
	// Regions served by `pushpipe dev`; a single worker serves --region.
	Regions    []string         `yaml:"regions"`
	Kafka      KafkaConfig      `yaml:"kafka"`
	ClickHouse ClickHouseConfig `yaml:"clickhouse"`
	Vendors    VendorsConfig    `yaml:"vendors"`
	Apps       []AppConfig      `yaml:"apps"`
	// HealthAddr is where a single worker serves /healthz, /readyz and
	// /metrics. `pushpipe dev` serves one such endpoint for all workers.
	HealthAddr string       `yaml:"healthAddr"`
	Stage      StageConfig  `yaml:"stage"`
	Sender     SenderConfig `yaml:"sender"`
	LogLevel   string       `yaml:"logLevel"`
	// LogFormat is how log lines are written to stderr: LogFormatConsole
	// (human-readable, coloured on a terminal), LogFormatJSON (one JSON
	// object a line, for collectors) or LogFormatAuto (console on a
	// terminal, else JSON). Default LogFormatAuto; --log-format overrides
	// it.
	LogFormat string `yaml:"logFormat"`
	// MemoryLimitMB is the soft memory limit of each pushpipe process, in
	// MiB (Go's runtime/debug.SetMemoryLimit): near it the garbage
	// collector runs more often instead of letting the heap grow to
	// twice what it holds, which matters for the workers that keep large
	// caches (eventsink, fanout). It is not a hard cap: a process that
	// holds more keeps running. 0 takes 90% of the memory limit of the
	// process's cgroup (a container's limit) when it has one, unless the
	// GOMEMLIMIT or AUTOMEMLIMIT environment variables decide; else no
	// limit.
	MemoryLimitMB int `yaml:"memoryLimitMB"`
	// Fanout tunes the fanout worker (its device cache and replay filter).
	Fanout FanoutConfig `yaml:"fanout"`
	// Receipts configures the receipts HTTP worker.
	Receipts ReceiptsConfig `yaml:"receipts"`
	// Scheduler configures the scheduler worker.
	Scheduler SchedulerConfig `yaml:"scheduler"`
	// Callbacks configures the business callbacks worker.
	Callbacks CallbacksConfig `yaml:"callbacks"`
	// Retry configures the backoff and attempt cap of retried deliveries.
	Retry RetryConfig `yaml:"retry"`
	// Recall configures the recall worker of revoked pushes.
	Recall RecallConfig `yaml:"recall"`
	// Eventsink sizes the event sink's batches (its ClickHouse inserts)
	// and sets the soft memory limit of an eventsink process.
	Eventsink EventsinkConfig `yaml:"eventsink"`
	// Gateway configures the HTTP gateway.
	Gateway GatewayConfig `yaml:"gateway"`
	// Console configures the operators' web console and its accounts.
	Console ConsoleConfig `yaml:"console"`
	// Security holds the id secret delivery ids and receipt tags are
	// derived under (see security.go).
	Security SecurityConfig `yaml:"security"`
}

// KafkaConfig names external brokers, or leaves Brokers empty to start the
// embedded Kafka-protocol broker, and how every connection to them is
// secured.
type KafkaConfig struct {
	Brokers []string `yaml:"brokers"`
	// Partitions of each topic created at start (per region).
	Partitions int `yaml:"partitions"`
	// EmbeddedPort is the loopback port of the embedded broker.
	EmbeddedPort int `yaml:"embeddedPort"`
	// Compression is the codec of the record batches the process's
	// producers write (Kafka's compression.type: none, gzip, snappy, lz4,
	// zstd), except batches of at most pipeline.UncompressedRecords (16)
	// records. Default pipeline.DefaultCompression (snappy). Consumers
	// read any.
	Compression pipeline.Compression `yaml:"compression"`
	// SASL authenticates every Kafka client of the process (workers,
	// gateway, CLI). With the embedded broker, `pushpipe dev` starts it
	// with SASL on and this user as its superuser.
	SASL KafkaSASLConfig `yaml:"sasl"`
	// TLS encrypts every connection to kafka.brokers.
	TLS TLSConfig `yaml:"tls"`
}

// Embedded reports whether the embedded broker should start.
func (k KafkaConfig) Embedded() bool { return len(k.Brokers) == 0 }

// ClickHouseConfig names an external ClickHouse (native protocol address)
// or leaves Addr empty to start the embedded one.
type ClickHouseConfig struct {
	Addr string `yaml:"addr"`
	// Username logs in (default "default"). With the embedded ClickHouse
	// a user other than default is created with Password.
	Username string `yaml:"username"`
	// Password, or PasswordFile naming a file that holds it (one line; a
	// trailing newline is ignored): at most one of them. Never printed.
	Password     channels.Secret `yaml:"password"`
	PasswordFile string          `yaml:"passwordFile"`
	// TLS encrypts every connection to Addr (ClickHouse's
	// tcp_port_secure, 9440 on a stock server).
	TLS TLSConfig `yaml:"tls"`
	// EmbeddedTCPPort and EmbeddedHTTPPort are the loopback ports of the
	// embedded server.
	EmbeddedTCPPort  int    `yaml:"embeddedTcpPort"`
	EmbeddedHTTPPort int    `yaml:"embeddedHttpPort"`
	LibPath          string `yaml:"libPath"`
	// DatabasePrefix names the region databases: prefix + region. The
	// default "push_" gives push_cn, push_eu, ... as analysts expect; a
	// different prefix keeps several environments apart on one server.
	DatabasePrefix string `yaml:"databasePrefix"`
	EventTTLDays   int    `yaml:"eventTtlDays"`
}

// Embedded reports whether the embedded ClickHouse should start.
func (c ClickHouseConfig) Embedded() bool { return c.Addr == "" }

// VendorsConfig holds the per-region vendor endpoints.
type VendorsConfig struct {
	// Endpoints holds the endpoints of each vendor of channels/registry
	// but SMS, by vendor name: the YAML section vendors.<name> (baseUrls,
	// authUrls where the vendor has a token host of its own (see
	// channels.Vendor.AuthURLs), timeout). Defaults fills the base URLs of
	// the vendors that have no global host (channels.Vendor.RegionBaseURL:
	// MiPush).
	Endpoints map[string]VendorEndpoint `yaml:"-" json:"endpoints"`
	// SMS is Alibaba Cloud SMS, which sends the SMS supplement of pushes;
	// its section has settings of its own (region ids, numbers per call).
	SMS SMSVendor `yaml:"sms"`
	// SimulatorTLSAddr is the simulator's TLS (HTTP/2) address, which
	// serves APNs and FCM. SimulatorCAFile is the simulator's CA
	// certificate for workers in other processes; `pushpipe dev` writes
	// it to <stateDir>/vendorsim-ca.pem.
	SimulatorTLSAddr string `yaml:"simulatorTlsAddr"`
	SimulatorCAFile  string `yaml:"simulatorCaFile"`
	// Simulator, when true, points every vendor of every region at the
	// embedded vendor simulator (the default of `pushpipe dev`).
	Simulator bool `yaml:"simulator"`
	// SimulatorAddr is the simulator's listen address for `pushpipe dev`
	// and the address workers use when Simulator is true.
	SimulatorAddr string `yaml:"simulatorAddr"`
	// SimulatorReceipts configures the receipts the simulator posts back
	// to the receipts workers (see SimulatorReceipts in vendors.go).
	SimulatorReceipts SimulatorReceipts `yaml:"simulatorReceipts"`
}

// AppConfig is one app with its vendor credentials.
type AppConfig struct {
	AppID       string `yaml:"appId"`
	WorkspaceID string `yaml:"workspaceId"`
	// Credentials holds the app's credentials per vendor of
	// channels/registry, by vendor name (the YAML section apps[].<name>):
	// a pointer to the vendor's App, as its channels.Vendor.NewApp returns
	// (*mipush.App, *apns.App, ...). A vendor without an entry is one the
	// app does not use; SMS credentials (Alibaba Cloud AccessKey pair)
	// enable the app's SMS supplement (smsStrategy). Secrets are never
	// printed. AppCredentials and SetCredentials read and set an entry.
	Credentials map[string]any `yaml:"-" json:"credentials"`
	// Callbacks says where the app's business callbacks may go; absent:
	// https only, public addresses only (see AppCallbacks).
	Callbacks *AppCallbacks `yaml:"callbacks"`
	// Receipts are the credentials the app's receipts are checked with
	// (see receipts.go); without them its Huawei, Honor, HarmonyOS and
	// app SDK receipts are refused.
	Receipts *AppReceipts `yaml:"receipts"`
	// Approval holds the app's broadcasts or large pushes for a second
	// operator's approval (see approval.go); absent: none waits.
	Approval *AppApproval `yaml:"approval"`
}

// StageConfig tunes every stage's consume loop.
type StageConfig struct {
	BatchSize int `yaml:"batchSize"`
	// BatchWait is how long a batch waits for more records after its
	// first one. Default DefaultStageBatchWait: at a few thousand records
	// a second a batch then holds several records instead of one, which
	// costs each record less CPU (offsets, produce requests, vendor-call
	// setup) for at most that much latency a stage. A negative value does
	// not wait: a batch is handed to the handler as soon as it can take
	// one, with every record that has arrived by then
	// (pipeline.NoBatchWait), so batches grow only while the handler is
	// busy. At most 1m.
	BatchWait time.Duration `yaml:"batchWait"`
	// BatchLinger hands a batch over once no record arrived for that
	// long, before BatchWait (see pipeline.StageConfig.BatchLinger), so a
	// lone request waits BatchLinger, not BatchWait; it matters only with
	// a positive BatchWait. Default 1ms; a negative value turns it off.
	BatchLinger time.Duration `yaml:"batchLinger"`
	// CommitInterval is how often a stage commits the offsets of the
	// batches whose outputs were acknowledged (pipeline.StageConfig.
	// CommitInterval): one offset commit per interval instead of one per
	// batch, and a final one when partitions are revoked or the stage
	// stops. A crash replays up to that much more input, which fan-out's
	// replay filter and the event sink's deduplication absorb. Default
	// DefaultStageCommitInterval; a negative value commits every batch and
	// waits for it. At most 10s.
	CommitInterval time.Duration `yaml:"commitInterval"`
}

// DefaultStageBatchWait is stage.batchWait's default.
const DefaultStageBatchWait = 2 * time.Millisecond

// DefaultStageCommitInterval is stage.commitInterval's default.
const DefaultStageCommitInterval = 100 * time.Millisecond

// SenderConfig tunes the sender.
type SenderConfig struct {
	// Concurrency is how many vendor calls one sender batch makes at once.
	Concurrency int `yaml:"concurrency"`
	// ConcurrentBatches is how many batches a sender stage sends at once:
	// the next batches are sent while an earlier one waits for its
	// slowest vendor answers; events and offsets still follow the order
	// of the batches (pipeline.StageConfig.ConcurrentBatches). Default 4.
	ConcurrentBatches int `yaml:"concurrentBatches"`
	// BurstRecords and BurstWait fill the batches of a burst: a sender
	// batch that holds at least BurstRecords deliveries once it took what
	// had arrived waits up to BurstWait for more (up to stage.batchSize,
	// or until none came for stage.batchLinger), so that a broadcast's
	// deliveries fill vendor calls (MiPush takes 1,000 regIds a call)
	// while unicast pushes, which come a few at a time, are sent at once
	// (pipeline.StageConfig.BurstRecords). Defaults 64 and 5ms; a negative
	// BurstRecords never waits; BurstWait at most 1s. Without it, with
	// stage.batchWait 0, a 1M-device broadcast's MiPush calls carried 518
	// regIds on average instead of 983.
	BurstRecords int           `yaml:"burstRecords"`
	BurstWait    time.Duration `yaml:"burstWait"`
	// RateLimit sets the region-wide rate budgets per vendor and app
	// (zero: the vendors' documented quotas, see
	// middleware.DefaultVendorLimits), shared by the region's sender replicas.
	RateLimit middleware.RateLimitConfig `yaml:"rateLimit"`
	// Breaker configures the circuit breaker of each vendor endpoint
	// (zero: the defaults of middleware.BreakerConfig).
	Breaker middleware.BreakerConfig `yaml:"breaker"`
}

// Default values.
const (
	DefaultStateDir         = ".pushpipe"
	DefaultPartitions       = 4
	DefaultKafkaPort        = 19092
	DefaultCHTCPPort        = 19000
	DefaultCHHTTPPort       = 18123
	DefaultCHUser           = "default"
	DefaultSimulatorAddr    = "127.0.0.1:18090"
	DefaultSimulatorTLSAddr = "127.0.0.1:18091"
	DefaultHealthAddr       = "127.0.0.1:18080"
	DefaultReceiptsAddr     = "127.0.0.1:18100"
	DefaultDemoAppID        = "ONEX570DA89211721"
	DefaultDemoWorkspace    = "default"
	DefaultDemoSecret       = "demo-mipush-secret"
	DefaultDemoPackage      = "com.example.pushdemo"
)

// Load reads a YAML file (an empty path means no file) and applies
// Defaults. Unknown keys are an error so that a typo does not silently
// leave a default in place.
func Load(path string) (*Config, error) {
	var c Config
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("reading config: %w", err)
		}
		defer func() { _ = f.Close() }()
		dec := yaml.NewDecoder(f)
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("parsing config %s: %w", path, err)
		}
	}
	c.Defaults()
	return &c, nil
}

// Defaults fills every unset field with its default.
func (c *Config) Defaults() {
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if len(c.Regions) == 0 {
		c.Regions = schema.Regions()
	}
	if c.Kafka.Partitions == 0 {
		c.Kafka.Partitions = DefaultPartitions
	}
	if c.Kafka.EmbeddedPort == 0 {
		c.Kafka.EmbeddedPort = DefaultKafkaPort
	}
	if c.Kafka.Compression == "" {
		c.Kafka.Compression = pipeline.DefaultCompression
	}
	if c.ClickHouse.EmbeddedTCPPort == 0 {
		c.ClickHouse.EmbeddedTCPPort = DefaultCHTCPPort
	}
	if c.ClickHouse.EmbeddedHTTPPort == 0 {
		c.ClickHouse.EmbeddedHTTPPort = DefaultCHHTTPPort
	}
	if c.ClickHouse.Username == "" {
		c.ClickHouse.Username = DefaultCHUser
	}
	if c.ClickHouse.DatabasePrefix == "" {
		c.ClickHouse.DatabasePrefix = "push_"
	}
	if c.ClickHouse.EventTTLDays == 0 {
		c.ClickHouse.EventTTLDays = store.DefaultEventTTLDays
	}
	if c.Vendors.SimulatorAddr == "" {
		c.Vendors.SimulatorAddr = DefaultSimulatorAddr
	}
	if c.Vendors.SimulatorTLSAddr == "" {
		c.Vendors.SimulatorTLSAddr = DefaultSimulatorTLSAddr
	}
	c.Vendors.defaults()
	if c.HealthAddr == "" {
		c.HealthAddr = DefaultHealthAddr
	}
	if c.Receipts.Addr == "" {
		c.Receipts.Addr = DefaultReceiptsAddr
	}
	c.Scheduler.defaults()
	c.Fanout.DeviceCache.defaults()
	c.Fanout.ReplayFilter.defaults()
	c.Gateway.defaults()
	c.Console.defaults()
	c.Callbacks.defaults()
	c.Retry.defaults()
	c.Recall.defaults()
	c.Eventsink.defaults()
	if c.Stage.BatchSize == 0 {
		c.Stage.BatchSize = 500
	}
	if c.Stage.BatchWait == 0 {
		c.Stage.BatchWait = DefaultStageBatchWait
	}
	if c.Stage.BatchLinger == 0 {
		c.Stage.BatchLinger = time.Millisecond
	}
	if c.Stage.CommitInterval == 0 {
		c.Stage.CommitInterval = DefaultStageCommitInterval
	}
	if c.Sender.ConcurrentBatches == 0 {
		c.Sender.ConcurrentBatches = 4
	}
	if c.Sender.BurstRecords == 0 {
		c.Sender.BurstRecords = 64
	}
	if c.Sender.BurstWait == 0 {
		c.Sender.BurstWait = 5 * time.Millisecond
	}
	if c.Sender.Concurrency == 0 {
		c.Sender.Concurrency = 8
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.LogFormat == "" {
		c.LogFormat = LogFormatAuto
	}
	if len(c.Apps) == 0 {
		c.Apps = []AppConfig{{
			AppID: DefaultDemoAppID, WorkspaceID: DefaultDemoWorkspace,
			Credentials: map[string]any{mipush.Name: &mipush.App{AppSecret: channels.Secret(DefaultDemoSecret), PackageName: DefaultDemoPackage}},
		}}
	}
}

// Validate reports the first setting that cannot work, saying what to fix.
func (c *Config) Validate() error {
	if !slices.Contains(LogFormats(), c.LogFormat) {
		return fmt.Errorf("logFormat %q: use %s (auto: console on a terminal, else json)", c.LogFormat, strings.Join(LogFormats(), ", "))
	}
	if c.MemoryLimitMB < 0 {
		return fmt.Errorf("memoryLimitMB %d is negative: use 0 for Go's default (GOMEMLIMIT, else no limit) or a size in MiB", c.MemoryLimitMB)
	}
	for _, r := range c.Regions {
		if !schema.ValidRegion(r) {
			return fmt.Errorf("regions: %q is not one of %s", r, strings.Join(schema.Regions(), ", "))
		}
	}
	if c.Kafka.Partitions < 1 {
		return fmt.Errorf("kafka.partitions must be at least 1, got %d", c.Kafka.Partitions)
	}
	if err := c.Kafka.Compression.Validate(); err != nil {
		return fmt.Errorf("kafka.compression %w", err)
	}
	if err := c.Kafka.validateSecurity(); err != nil {
		return err
	}
	if err := c.ClickHouse.validateSecurity(); err != nil {
		return err
	}
	if c.Stage.BatchSize < 1 {
		return fmt.Errorf("stage.batchSize must be at least 1, got %d", c.Stage.BatchSize)
	}
	if c.Stage.CommitInterval > 10*time.Second {
		return fmt.Errorf("stage.commitInterval must be at most 10s (a crash replays up to that much input), got %s; a negative value commits every batch", c.Stage.CommitInterval)
	}
	if c.Stage.BatchWait > time.Minute {
		return fmt.Errorf("stage.batchWait %s holds records too long: use at most 1m (a negative value does not wait)", c.Stage.BatchWait)
	}
	if c.Sender.ConcurrentBatches < 1 || c.Sender.ConcurrentBatches > 64 {
		return fmt.Errorf("sender.concurrentBatches must be in 1..64, got %d", c.Sender.ConcurrentBatches)
	}
	if c.Sender.BurstWait < 0 || c.Sender.BurstWait > time.Second {
		return fmt.Errorf("sender.burstWait must be between 0 and 1s, got %s", c.Sender.BurstWait)
	}
	if c.Sender.Concurrency < 1 {
		return fmt.Errorf("sender.concurrency must be at least 1, got %d", c.Sender.Concurrency)
	}
	if err := c.Sender.RateLimit.Validate(); err != nil {
		return fmt.Errorf("sender.rateLimit: %w", err)
	}
	if err := c.Sender.Breaker.Validate(); err != nil {
		return fmt.Errorf("sender.breaker: %w", err)
	}
	if _, port, err := net.SplitHostPort(c.Receipts.Addr); err != nil || !validPort(port, len(c.Regions)) {
		return fmt.Errorf("receipts.addr %q must be host:port with room for %d consecutive ports", c.Receipts.Addr, max(len(c.Regions), 1))
	}
	if _, _, err := net.SplitHostPort(c.HealthAddr); err != nil {
		return fmt.Errorf("healthAddr %q must be host:port: %w", c.HealthAddr, err)
	}
	for i := range max(len(c.Regions), 1) {
		if sameListenAddr(c.ReceiptsAddr(i), c.HealthAddr) {
			return fmt.Errorf("receipts.addr %q puts a receipts worker on healthAddr %q: vendors reach the receipts port, so /healthz, /readyz and /metrics need a port of their own", c.Receipts.Addr, c.HealthAddr)
		}
	}
	seen := map[string]bool{}
	for i, a := range c.Apps {
		if a.AppID == "" {
			return fmt.Errorf("apps[%d].appId is empty", i)
		}
		if seen[a.AppID] {
			return fmt.Errorf("apps[%d].appId %q is listed twice", i, a.AppID)
		}
		seen[a.AppID] = true
		if err := a.validateVendorApps(i); err != nil {
			return err
		}
		if err := a.Approval.validate(i, a.AppID); err != nil {
			return err
		}
	}
	if err := c.Vendors.SimulatorReceipts.validate(); err != nil {
		return err
	}
	if err := c.validateEndpoints(); err != nil {
		return err
	}
	if err := c.validateSMS(); err != nil {
		return err
	}
	if err := c.Scheduler.validate(); err != nil {
		return err
	}
	if err := c.Fanout.DeviceCache.validate(); err != nil {
		return err
	}
	if err := c.Fanout.ReplayFilter.validate(); err != nil {
		return err
	}
	if err := c.Callbacks.validate(); err != nil {
		return err
	}
	if _, err := c.CallbackPolicies(); err != nil {
		return err
	}
	if err := c.Recall.validate(); err != nil {
		return err
	}
	if err := c.Eventsink.validate(); err != nil {
		return err
	}
	if err := c.Retry.validate(); err != nil {
		return err
	}
	if err := c.validateGateway(); err != nil {
		return err
	}
	if err := c.validateReceipts(); err != nil {
		return err
	}
	if err := c.validateConsole(); err != nil {
		return err
	}
	return c.Security.validate()
}

// KafkaDataDir is the embedded Kafka broker's data folder, under StateDir.
func (c *Config) KafkaDataDir() string { return filepath.Join(c.StateDir, "kafka") }

// ClickHouseDataDir is the embedded ClickHouse server's data folder, under
// StateDir.
func (c *Config) ClickHouseDataDir() string { return filepath.Join(c.StateDir, "clickhouse") }

// Redacted returns a copy safe to log. Every secret of the configuration
// (the Kafka and ClickHouse passwords, the apps' vendor credentials) is a
// channels.Secret, which prints and marshals (fmt, JSON, YAML, zerolog) as
// channels.Redacted; files holding secrets are named, never read, by the
// configuration.
func (c *Config) Redacted() Config { return *c }

// AppIDs lists the configured app ids in order.
func (c *Config) AppIDs() []string {
	ids := make([]string, 0, len(c.Apps))
	for _, a := range c.Apps {
		ids = append(ids, a.AppID)
	}
	sort.Strings(ids)
	return ids
}

// ReceiptsAddr is the listen address of the receipts worker of the i-th
// served region under `pushpipe dev`: Receipts.Addr with its port plus i
// (port 0 stays 0, a free port). It assumes Validate passed.
func (c *Config) ReceiptsAddr(i int) string {
	host, port, _ := net.SplitHostPort(c.Receipts.Addr)
	p, _ := strconv.Atoi(port)
	if p != 0 {
		p += i
	}
	return net.JoinHostPort(host, strconv.Itoa(p))
}

// sameListenAddr reports whether listening on a and on b would take the
// same port: equal non-zero ports on the same host, or on any host when
// either is unspecified (0.0.0.0, ::, empty). Port 0 is a free port, never
// the same.
func sameListenAddr(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb || pa == "0" {
		return false
	}
	unspecified := func(h string) bool {
		ip := net.ParseIP(h)
		return h == "" || ip != nil && ip.IsUnspecified()
	}
	return ha == hb || unspecified(ha) || unspecified(hb)
}

// validPort reports whether port is a number leaving room for n
// consecutive ports (0 means any free port).
func validPort(port string, n int) bool {
	p, err := strconv.Atoi(port)
	return err == nil && p >= 0 && (p == 0 || p+max(n, 1)-1 <= 65535)
}

// Database is the ClickHouse database of a region.
func (c *Config) Database(region string) string { return c.ClickHouse.DatabasePrefix + region }
