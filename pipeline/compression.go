package pipeline

import (
	"fmt"
	"strings"

	"github.com/segmentio/kafka-go"
)

// Compression names the codec a Producer compresses its record batches
// with, as Kafka's producer setting compression.type does. Every Kafka
// broker since 0.11 stores and serves a compressed batch as it was written,
// and every consumer decompresses what it reads, whatever the codec, so the
// producers of one topic may use different codecs and a change needs no
// migration.
type Compression string

// The codecs a Producer can write.
const (
	CompressionNone   Compression = "none"
	CompressionGzip   Compression = "gzip"
	CompressionSnappy Compression = "snappy"
	CompressionLz4    Compression = "lz4"
	CompressionZstd   Compression = "zstd"
)

// DefaultCompression is the codec of a Producer whose configuration names
// none. The stages' records are JSON, which snappy makes five to seven
// times smaller for the broker to write, keep and serve (a broadcast's
// delivery about 67 bytes instead of 454, an event 82 instead of 428; a
// whole `make bench`: 1.2 GiB of records instead of 6.1 GiB), which cut the
// embedded broker's CPU a broadcast delivery from 14.7 to 4.2-4.6 µs. lz4
// is as cheap and a little smaller, but kafka-go's lz4 writer holds 4 MiB
// blocks, which grew the fan-out worker's peak memory by 35-45 MB.
const DefaultCompression = CompressionSnappy

// Compressions lists the names Compression accepts.
func Compressions() []string {
	return []string{string(CompressionNone), string(CompressionGzip), string(CompressionSnappy), string(CompressionLz4), string(CompressionZstd)}
}

// Validate reports whether c names a codec (empty means DefaultCompression),
// saying which names do.
func (c Compression) Validate() error {
	_, err := c.codec()
	return err
}

// codec returns kafka-go's code for c; empty means DefaultCompression.
func (c Compression) codec() (kafka.Compression, error) {
	switch c {
	case "":
		return DefaultCompression.codec()
	case CompressionNone:
		return 0, nil
	case CompressionGzip:
		return kafka.Gzip, nil
	case CompressionSnappy:
		return kafka.Snappy, nil
	case CompressionLz4:
		return kafka.Lz4, nil
	case CompressionZstd:
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf("%q is not a codec: use one of %s (empty: %s)", string(c), strings.Join(Compressions(), ", "), DefaultCompression)
}
