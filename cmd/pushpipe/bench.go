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
	var ceilings, unicast, brokerInMemory, endpointCeilings, profile bool
	var timeout, unicastDuration time.Duration
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Run the benchmark on the embedded stack and write <state-dir>/bench/latest.txt and report.md",
		Long: `Run the reproducible benchmark: start the embedded broker (in a process of its own,
its records in segment files) and ClickHouse in <state-dir>/bench, run workers as their
own processes, and print every figure as 'figure_name: value unit'; the figures are
merged into <state-dir>/bench/latest.txt, and a Markdown report with a chart is written
to <state-dir>/bench/report.md and report.svg.
It measures the ceilings of the infrastructure in the same run, each the best of
several shapes (raw Kafka produce over batch sizes and writers, consume over readers and
fetch sizes, columnar ClickHouse inserts over batch sizes and inserters), and the
ceiling of each vendor simulator endpoint with h2load (a client pushpipe did not write;
scripts/bench-tools.sh installs it); unicast latency from a request on Kafka to the
vendor call, p50/p99/p99.9 at 500 and 2,000 requests/s to MiPush and 5,000/s to APNs
(HTTP/2 over TLS) through fanout and sender processes; a broadcast end to end through
fanout, sender, eventsink and retry processes (deliveries per second until the simulator
accepted all, seconds until every acked event is in ClickHouse, the peak RSS of each
worker, the broker and ClickHouse, and the cost of one delivery: CPU time of every
process and ClickHouse rows written and read, with CPU profiles and their top 10 beside
the report); the eventsink alone on pre-published events; each throughput as a ratio to
its ceiling, flagging any figure above its ceiling; a fan-out broadcast (deliveries per
second out of fanout, the fanout process's peak RSS) and, per vendor, deliveries per
second through one sender process against the simulator and the p99 of its vendor
calls; the 90-day statistics query (day granularity) and the funnel query over
synthetic events inserted into their own database (p50 of each); and receipts per
second through one receipts worker with the p99 of its HTTP answers (given after Kafka
acknowledged). A count of 0 skips its part.`,
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
				BrokerInMemory: brokerInMemory, EndpointCeilings: endpointCeilings, Profile: profile,
				Timeout: timeout, Progress: cmd.ErrOrStderr(), Figures: cmd.OutOrStdout()})
			return err
		},
	}
	cmd.Flags().IntVar(&devices, "broadcast-devices", 1_000_000, "audience of the fan-out broadcast (0 skips it)")
	cmd.Flags().IntVar(&senderDeliveries, "sender-deliveries", 50_000, "deliveries per vendor for the sender figures (0 skips them)")
	cmd.Flags().IntVar(&analyticsEvents, "analytics-events", 10_000_000, "synthetic events over 90 days for the stats and funnel query figures (0 skips them)")
	cmd.Flags().IntVar(&analyticsReceipts, "analytics-receipts", 200_000, "Huawei receipts posted for the receipts worker figures, for at most 20 s (0 skips them)")
	cmd.Flags().BoolVar(&ceilings, "ceilings", true, "measure the raw Kafka and ClickHouse ceilings (false skips them)")
	cmd.Flags().IntVar(&ceilingRecords, "ceiling-records", 1_000_000, "records (and ClickHouse rows) each shape of a ceiling moves, for at most 3 s")
	cmd.Flags().BoolVar(&unicast, "unicast", true, "measure unicast latency at 500 and 2,000 requests/s to MiPush and 5,000/s to APNs (false skips it)")
	cmd.Flags().DurationVar(&unicastDuration, "unicast-duration", 10*time.Second, "how long requests are published at each unicast rate")
	cmd.Flags().IntVar(&e2eDevices, "e2e-devices", 1_000_000, "audience of the end-to-end broadcast through fanout, sender, eventsink and retry (0 skips it)")
	cmd.Flags().IntVar(&eventsinkEvents, "eventsink-events", 500_000, "pre-published events the eventsink-alone figure inserts (0 skips it)")
	cmd.Flags().BoolVar(&endpointCeilings, "endpoint-ceilings", true, "measure each vendor simulator endpoint with h2load, with --sender-deliveries (false skips it)")
	cmd.Flags().BoolVar(&profile, "profile", true, "save CPU profiles of the worker processes and the broker during the end-to-end broadcast, and their top 10")
	cmd.Flags().BoolVar(&brokerInMemory, "broker-in-memory", false, "keep the broker's records in memory instead of segment files (to compare its RSS)")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Minute, "upper bound of the whole run")
	cmd.AddCommand(newBenchBrokerCmd())
	return cmd
}

// newBenchBrokerCmd is the hidden `pushpipe bench broker`: the embedded
// broker in a process of its own, which the bench starts so that the
// broker's CPU time and memory are measured apart.
func newBenchBrokerCmd() *cobra.Command {
	var o bench.BrokerOptions
	cmd := &cobra.Command{
		Use:    "broker",
		Short:  "Run the bench's embedded Kafka broker until SIGTERM (started by pushpipe bench)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return bench.ServeBroker(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.DataDir, "data-dir", "", "directory of the records (empty: in memory)")
	cmd.Flags().StringVar(&o.PprofAddr, "pprof-addr", "", "loopback address serving /debug/pprof/ (empty: none)")
	cmd.Flags().DurationVar(&o.Retention, "retention", 0, "retention.ms of topics without their own (0: the broker default, a day)")
	cmd.Flags().Int64Var(&o.RetentionBytes, "retention-bytes", 0, "retention.bytes of each partition of topics without their own (0: no bound, the broker default)")
	return cmd
}
