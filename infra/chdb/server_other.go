//go:build !(linux && amd64)

package chdb

import (
	"context"
	"fmt"
	"runtime"
)

func startServer(context.Context, Config) (*Server, error) {
	return nil, fmt.Errorf("%w, not %s/%s: point the pipeline at an external ClickHouse instead", ErrUnsupportedPlatform, runtime.GOOS, runtime.GOARCH)
}
