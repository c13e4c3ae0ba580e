package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

// ClickHouseOptions say where a ClickHouse server is and how to log in.
type ClickHouseOptions struct {
	// Addr is the native-protocol host:port (9000, or 9440 for TLS on a
	// stock server). Required.
	Addr string
	// Username and Password log in; an empty Username is "default".
	Username string
	Password string
	// TLS, when set, encrypts the connection and checks the server's
	// certificate as configured; nil connects in plaintext.
	TLS *tls.Config
}

// OpenClickHouse connects to a ClickHouse server over the native protocol
// (over TLS when o.TLS is set) and checks that it answers within 10 s. A
// server refusing the credentials fails with an error saying so, which
// wraps the server's *clickhouse.Exception (code 516 AUTHENTICATION_FAILED)
// for errors.As. The returned connection pool is safe for concurrent use;
// the caller closes it.
func OpenClickHouse(ctx context.Context, o ClickHouseOptions) (driver.Conn, error) {
	if o.Addr == "" {
		return nil, errors.New("opening clickhouse: no address: give the native-protocol host:port")
	}
	if o.Username == "" {
		o.Username = "default"
	}
	var tlsConfig *tls.Config
	transport := "plaintext"
	if o.TLS != nil {
		tlsConfig, transport = o.TLS.Clone(), "TLS"
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:         []string{o.Addr},
		Auth:         clickhouse.Auth{Username: o.Username, Password: o.Password},
		TLS:          tlsConfig,
		DialTimeout:  5 * time.Second,
		MaxOpenConns: 16,
		MaxIdleConns: 8,
	})
	if err != nil {
		return nil, fmt.Errorf("opening clickhouse at %s: %w", o.Addr, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		_ = conn.Close()
		var ex *proto.Exception
		if errors.As(err, &ex) && ex.Code == codeAuthenticationFailed {
			return nil, fmt.Errorf("clickhouse at %s refused user %q: check clickhouse.username and clickhouse.password (or passwordFile): %w", o.Addr, o.Username, err)
		}
		return nil, fmt.Errorf("reaching clickhouse at %s as user %q over %s: %w", o.Addr, o.Username, transport, err)
	}
	return conn, nil
}

// codeAuthenticationFailed is ClickHouse's AUTHENTICATION_FAILED.
const codeAuthenticationFailed = 516
