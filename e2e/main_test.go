// Package e2e holds the end-to-end tests of the whole chain: real
// Kafka-protocol broker, real ClickHouse, the vendor simulator, and the
// workers wired exactly as the pushpipe binary wires them.
package e2e

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/pushpipe/pushpipe/internal/testinfra"
)

// ch is the ClickHouse server of this test binary, started by TestMain.
var ch *testinfra.ClickHouse

// TestMain starts the ClickHouse server the tests share. Every test here
// runs the whole chain, so under -short (make test-short: unit tests
// alone) none runs and no server starts.
func TestMain(m *testing.M) {
	flag.Parse() // for testing.Short
	if testing.Short() {
		fmt.Println("e2e: every test runs the whole chain on Kafka and ClickHouse; none runs under -short")
		os.Exit(0)
	}
	testinfra.MainWithClickHouse(m, func(c *testinfra.ClickHouse) { ch = c })
}
