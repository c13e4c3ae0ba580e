package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/pushpipe/pushpipe/internal/bench"
)

func newBenchCmd() *cobra.Command {
	var devices, senderDeliveries, analyticsEvents, analyticsReceipts, ceilingRecords, e2eDevices, eventsinkEvents int
	var ceilings, unicast bool
	var timeout, unicastDuration time.Duration
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Run the benchmark on the embedded stack and write <state-dir>/bench/latest.txt and report.md",
		Long: `Run the reproducible benchmark: start the embedded broker and ClickHouse in
<state-dir>/bench, run workers as their own processes, and print every figure as
'figure_name: value unit'; the figures are merged into <state-dir>/bench/latest.txt,
and a Markdown report with a chart is written to <state-dir>/bench/report.md and
report.svg.
It measures the ceilings of the infrastructure in the same run (raw Kafka produce and
consume, raw ClickHouse inserts); unicast latency from a request on Kafka to the vendor
call, p50/p99/p99.9 at 500 and 2,000 requests/s through fanout and sender processes; a
broadcast end to end through fanout, sender, eventsink and retry processes (deliveries
per second until the simulator accepted all, seconds until every acked event is in
ClickHouse, each worker's peak RSS); the eventsink alone on pre-published events;
each throughput as a ratio to its ceiling; a fan-out broadcast (deliveries per second out of fanout, the fanout
process's peak RSS) and, per vendor, deliveries per second through one sender process
against the simulator and the p99 of its vendor calls; the 90-day statistics query
(day granularity) and the funnel query over synthetic events inserted into their own
database (p50 of each); and receipts per second through one receipts worker with the
p99 of its HTTP answers (given after Kafka acknowledged). A count of 0 skips its part.`,
		Example: "  pushpipe bench\n  pushpipe bench --ceilings=false --unicast=false --broadcast-devices 0 --sender-deliveries 0 --analytics-events 0 --analytics-receipts 0",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			bin, err := os.Executable()
			if err != nil {
				return fmt.Errorf("locating the pushpipe binary: %w", err)
			}
			if !ceilings {
				ceilingRecords = 0
			}
			if !unicast {
				unicastDuration = 0
			}
			_, err = bench.Run(cmd.Context(), bench.Options{StateDir: cfg.StateDir, BroadcastDevices: devices, SenderDeliveries: senderDeliveries,
				AnalyticsEvents: analyticsEvents, AnalyticsReceipts: analyticsReceipts, CeilingRecords: ceilingRecords,
				UnicastDuration: unicastDuration, E2EDevices: e2eDevices, EventsinkEvents: eventsinkEvents, Binary: bin,
				Timeout: timeout, Progress: cmd.ErrOrStderr(), Figures: cmd.OutOrStdout()})
			return err
		},
	}
	cmd.Flags().IntVar(&devices, "broadcast-devices", 1_000_000, "audience of the fan-out broadcast (0 skips it)")
	cmd.Flags().IntVar(&senderDeliveries, "sender-deliveries", 50_000, "deliveries per vendor for the sender figures (0 skips them)")
	cmd.Flags().IntVar(&analyticsEvents, "analytics-events", 10_000_000, "synthetic events over 90 days for the stats and funnel query figures (0 skips them)")
	cmd.Flags().IntVar(&analyticsReceipts, "analytics-receipts", 200_000, "Huawei receipts posted for the receipts worker figures, for at most 20 s (0 skips them)")
	cmd.Flags().BoolVar(&ceilings, "ceilings", true, "measure the raw Kafka and ClickHouse ceilings (false skips them)")
	cmd.Flags().IntVar(&ceilingRecords, "ceiling-records", 1_000_000, "records (and ClickHouse rows) each ceiling moves, for at most 20 s")
	cmd.Flags().BoolVar(&unicast, "unicast", true, "measure unicast latency at 500 and 2,000 requests/s (false skips it)")
	cmd.Flags().DurationVar(&unicastDuration, "unicast-duration", 10*time.Second, "how long requests are published at each unicast rate")
	cmd.Flags().IntVar(&e2eDevices, "e2e-devices", 1_000_000, "audience of the end-to-end broadcast through fanout, sender, eventsink and retry (0 skips it)")
	cmd.Flags().IntVar(&eventsinkEvents, "eventsink-events", 500_000, "pre-published events the eventsink-alone figure inserts (0 skips it)")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Minute, "upper bound of the whole run")
	return cmd
}
