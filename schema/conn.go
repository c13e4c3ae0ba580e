package schema

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// OpenClickHouse connects to a ClickHouse server over the native protocol
// and checks that it answers within 10 s. The returned connection pool is
// safe for concurrent use; the caller closes it.
func OpenClickHouse(ctx context.Context, addr, username, password string) (driver.Conn, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:         []string{addr},
		Auth:         clickhouse.Auth{Username: username, Password: password},
		DialTimeout:  5 * time.Second,
		MaxOpenConns: 16,
		MaxIdleConns: 8,
	})
	if err != nil {
		return nil, fmt.Errorf("opening clickhouse at %s: %w", addr, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("reaching clickhouse at %s: %w", addr, err)
	}
	return conn, nil
}
