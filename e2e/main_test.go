// Package e2e holds the end-to-end tests of the whole chain: real
// Kafka-protocol broker, real ClickHouse, the vendor simulator, and the
// workers wired exactly as the pushpipe binary wires them.
package e2e

import (
	"testing"

	"github.com/pushpipe/pushpipe/internal/testinfra"
)

// ch is the ClickHouse server of this test binary, started by TestMain.
var ch *testinfra.ClickHouse

func TestMain(m *testing.M) {
	testinfra.MainWithClickHouse(m, func(c *testinfra.ClickHouse) { ch = c })
}
