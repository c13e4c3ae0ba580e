package chdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// LibVersion is the chDB release whose libchdb.so this package is built and
// tested against. scripts/fetch-chdb.sh downloads exactly this version.
const LibVersion = "26.7.3-stable.1"

// Environment variables read by DefaultLibPath.
const (
	// EnvLibPath, when set, is the full path of libchdb.so and wins over
	// the cache location.
	EnvLibPath = "PUSHPIPE_CHDB_LIB"
	// EnvCacheDir, when set, replaces $HOME/.cache/pushpipe as the root of
	// the download cache shared with scripts/fetch-chdb.sh.
	EnvCacheDir = "PUSHPIPE_CACHE"
)

// Defaults applied by Start to zero-valued Config fields.
const (
	DefaultStartTimeout = 60 * time.Second
	DefaultStopTimeout  = 60 * time.Second
	DefaultLogLevel     = "warning"
	DefaultRestarts     = 3
	// DefaultMaxServerMemoryBytes caps the whole embedded server at 4 GiB,
	// leaving most of a 24 GiB development machine to the rest of the
	// pipeline. ClickHouse's own default is 90% of physical RAM.
	DefaultMaxServerMemoryBytes int64 = 4 << 30
	// DefaultMarkCacheBytes replaces ClickHouse's 5 GiB mark cache, which
	// is sized for dedicated servers.
	DefaultMarkCacheBytes int64 = 256 << 20
)

var logLevels = map[string]bool{
	"none": true, "fatal": true, "critical": true, "error": true, "warning": true,
	"notice": true, "information": true, "debug": true, "trace": true,
}

// Config describes one embedded ClickHouse server. The zero value of every
// field except DataDir means "use the default"; DefaultConfig shows them.
type Config struct {
	// LibPath is the path of libchdb.so. Empty means DefaultLibPath().
	LibPath string
	// DataDir holds the server's databases, tables and log. It is created
	// if missing and survives Close: a later Start with the same DataDir
	// (in another process) sees the same tables. Required. At most one
	// server may use a DataDir at a time.
	DataDir string
	// TCPPort is the native-protocol port on 127.0.0.1; 0 picks a free one.
	TCPPort int
	// HTTPPort is the HTTP-protocol port on 127.0.0.1; 0 picks a free one.
	HTTPPort int
	// Users are the users that log in with a password, besides "default"
	// (which has none and may connect from loopback only). Each may do
	// everything default may. They live in the server's configuration:
	// clickhouse-local has no storage for users created by SQL (CREATE
	// USER fails with ACCESS_STORAGE_FOR_INSERTION_NOT_FOUND).
	//
	// A login with a wrong password is refused (AUTHENTICATION_FAILED,
	// code 516), and then the embedded server aborts, a limitation of
	// chDB's server mode; it is started again like any crash (Restarts).
	Users []User
	// StartTimeout bounds how long Start waits for the server to answer
	// SELECT 1 over the native protocol, in addition to the deadline of the
	// context passed to Start. Loading the 566 MB library from a cold page
	// cache is the slow part. Default DefaultStartTimeout.
	StartTimeout time.Duration
	// StopTimeout bounds how long Close waits for the server to shut down
	// before it kills the child process. Default DefaultStopTimeout.
	StopTimeout time.Duration
	// LogLevel is ClickHouse's own log level (none, fatal, critical, error,
	// warning, notice, information, debug, trace); its log is written to
	// DataDir/log/clickhouse.log. "none" disables the file. Default
	// DefaultLogLevel.
	LogLevel string
	// MaxServerMemoryBytes is ClickHouse's max_server_memory_usage: queries
	// that would take the server above it fail with MEMORY_LIMIT_EXCEEDED
	// instead of growing the process. Default DefaultMaxServerMemoryBytes.
	MaxServerMemoryBytes int64
	// Restarts is how many times, over the server's life, a child that
	// exits on its own (a crash) is started again on the same ports and
	// DataDir; clients see their connections fail once and reconnect.
	// 0 means DefaultRestarts; a negative value never restarts.
	Restarts int
	// QueryLog turns on ClickHouse's system.query_log and system.part_log
	// (flushed every second): one row per query with the rows and bytes it
	// read and wrote, and one per part created, merged or removed. Off by
	// default, as it costs an insert per query; the benchmark turns it on
	// to say which queries read the rows and how many parts they made.
	QueryLog bool
	// Logger receives this package's messages: "ready" at info level, and
	// at debug level "stopped" plus every line the server child prints. The
	// zero value discards them.
	Logger zerolog.Logger
}

// User is a ClickHouse user with a password.
type User struct {
	// Name is letters, digits, '_' and '-', and not "default".
	Name string
	// Password is stored in the generated configuration as its SHA-256.
	Password string
}

// DefaultConfig returns a Config with every default filled in and the given
// data directory.
func DefaultConfig(dataDir string) Config {
	return Config{DataDir: dataDir}.withDefaults()
}

// DefaultLibPath returns where libchdb.so is expected: $PUSHPIPE_CHDB_LIB if
// set, else ${PUSHPIPE_CACHE:-$HOME/.cache/pushpipe}/chdb/<LibVersion>/libchdb.so,
// the location scripts/fetch-chdb.sh fills. It returns "" only when neither
// variable is set and the home directory is unknown. It does not check that
// the file exists; Config.Validate does.
func DefaultLibPath() string {
	if p := os.Getenv(EnvLibPath); p != "" {
		return p
	}
	root := os.Getenv(EnvCacheDir)
	if root == "" {
		home, err := os.UserHomeDir()
		if err != nil || home == "" {
			return ""
		}
		root = filepath.Join(home, ".cache", "pushpipe")
	}
	return filepath.Join(root, "chdb", LibVersion, "libchdb.so")
}

func (c Config) withDefaults() Config {
	if c.LibPath == "" {
		c.LibPath = DefaultLibPath()
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.LogLevel == "" {
		c.LogLevel = DefaultLogLevel
	}
	if c.MaxServerMemoryBytes == 0 {
		c.MaxServerMemoryBytes = DefaultMaxServerMemoryBytes
	}
	if c.Restarts == 0 {
		c.Restarts = DefaultRestarts
	}
	return c
}

// Validate reports, as one error listing every problem, what must be fixed
// before Start can use c. Zero-valued fields are checked as their defaults,
// so an empty LibPath is checked at DefaultLibPath(). It touches the file
// system only to stat LibPath and DataDir.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	switch c.LibPath {
	case "":
		errs = append(errs, fmt.Errorf("LibPath is empty and no default is known: set %s or run scripts/fetch-chdb.sh", EnvLibPath))
	default:
		st, err := os.Stat(c.LibPath)
		switch {
		case errors.Is(err, os.ErrNotExist):
			errs = append(errs, fmt.Errorf("LibPath %q not found: run scripts/fetch-chdb.sh (or set %s to an existing libchdb.so %s)", c.LibPath, EnvLibPath, LibVersion))
		case err != nil:
			errs = append(errs, fmt.Errorf("LibPath %q cannot be read: %w", c.LibPath, err))
		case !st.Mode().IsRegular():
			errs = append(errs, fmt.Errorf("LibPath %q is not a regular file: point it at libchdb.so", c.LibPath))
		}
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("DataDir is empty: set it to the directory that holds the ClickHouse data (a test can use t.TempDir())"))
	} else if st, err := os.Stat(c.DataDir); err == nil && !st.IsDir() {
		errs = append(errs, fmt.Errorf("DataDir %q is not a directory", c.DataDir))
	}
	for _, p := range []struct {
		name string
		port int
	}{{"TCPPort", c.TCPPort}, {"HTTPPort", c.HTTPPort}} {
		if p.port < 0 || p.port > 65535 {
			errs = append(errs, fmt.Errorf("%s %d is out of range: use 1-65535, or 0 to pick a free port", p.name, p.port))
		}
	}
	for i, u := range c.Users {
		switch {
		case u.Name == "" || strings.Trim(u.Name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "":
			errs = append(errs, fmt.Errorf("Users[%d].Name %q: use letters, digits, '_' and '-'", i, u.Name))
		case u.Name == "default":
			errs = append(errs, fmt.Errorf("Users[%d]: default is the password-less loopback user; give the user another name", i)) //nolint:staticcheck // ST1005: starts with the field to fix, Users
		case u.Password == "":
			errs = append(errs, fmt.Errorf("Users[%d] (%s): Password is empty", i, u.Name)) //nolint:staticcheck // ST1005: starts with the field to fix, Users
		}
		for _, v := range c.Users[:i] {
			if v.Name == u.Name {
				errs = append(errs, fmt.Errorf("Users[%d]: %s is listed twice", i, u.Name)) //nolint:staticcheck // ST1005: starts with the field to fix, Users
			}
		}
	}
	if c.TCPPort != 0 && c.TCPPort == c.HTTPPort {
		errs = append(errs, fmt.Errorf("TCPPort and HTTPPort are both %d: give them different ports, or 0 to pick free ones", c.TCPPort))
	}
	if c.StartTimeout < 0 {
		errs = append(errs, fmt.Errorf("StartTimeout %v is negative: use a positive duration, or 0 for %v", c.StartTimeout, DefaultStartTimeout))
	}
	if c.StopTimeout < 0 {
		errs = append(errs, fmt.Errorf("StopTimeout %v is negative: use a positive duration, or 0 for %v", c.StopTimeout, DefaultStopTimeout))
	}
	if !logLevels[c.LogLevel] {
		errs = append(errs, fmt.Errorf("LogLevel %q is unknown: use one of none, fatal, critical, error, warning, notice, information, debug, trace", c.LogLevel))
	}
	if c.MaxServerMemoryBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxServerMemoryBytes %d is negative: use a byte count, or 0 for %d", c.MaxServerMemoryBytes, DefaultMaxServerMemoryBytes))
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid embedded clickhouse config: %w", errors.Join(errs...))
	}
	return nil
}
