package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/pushpipe/pushpipe/internal/bench"
)

func newBenchCmd() *cobra.Command {
	var devices, senderDeliveries, analyticsEvents, analyticsReceipts int
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Run the benchmark on the embedded stack and write <state-dir>/bench/latest.txt",
		Long: `Run the reproducible benchmark: start the embedded broker and ClickHouse in
<state-dir>/bench, run workers as their own processes, and print every figure as
'figure_name: value unit'; the figures are merged into <state-dir>/bench/latest.txt.
It measures a fan-out broadcast (deliveries per second out of fanout, the fanout
process's peak RSS) and, per vendor, deliveries per second through one sender process
against the simulator and the p99 of its vendor calls; the 90-day statistics query
(day granularity) and the funnel query over synthetic events inserted into their own
database (p50 of each); and receipts per second through one receipts worker with the
p99 of its HTTP answers (given after Kafka acknowledged). A count of 0 skips its part.`,
		Example: "  pushpipe bench --broadcast-devices 1000000",
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
			_, err = bench.Run(cmd.Context(), bench.Options{StateDir: cfg.StateDir, BroadcastDevices: devices, SenderDeliveries: senderDeliveries,
				AnalyticsEvents: analyticsEvents, AnalyticsReceipts: analyticsReceipts, Binary: bin,
				Timeout: timeout, Progress: cmd.ErrOrStderr(), Figures: cmd.OutOrStdout()})
			return err
		},
	}
	cmd.Flags().IntVar(&devices, "broadcast-devices", 1_000_000, "audience of the fan-out broadcast (0 skips it)")
	cmd.Flags().IntVar(&senderDeliveries, "sender-deliveries", 50_000, "deliveries per vendor for the sender figures (0 skips them)")
	cmd.Flags().IntVar(&analyticsEvents, "analytics-events", 10_000_000, "synthetic events over 90 days for the stats and funnel query figures (0 skips them)")
	cmd.Flags().IntVar(&analyticsReceipts, "analytics-receipts", 200_000, "Huawei receipts posted for the receipts worker figures, for at most 20 s (0 skips them)")
	cmd.Flags().DurationVar(&timeout, "timeout", 25*time.Minute, "upper bound of the whole run")
	return cmd
}
