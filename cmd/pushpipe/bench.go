package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/pushpipe/pushpipe/internal/bench"
)

func newBenchCmd() *cobra.Command {
	var devices, senderDeliveries int
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Run the benchmark on the embedded stack and write <state-dir>/bench/latest.txt",
		Long: `Run the reproducible benchmark: start the embedded broker and ClickHouse in
<state-dir>/bench, run workers as their own processes, and print every figure as
'figure_name: value unit'; the figures are merged into <state-dir>/bench/latest.txt.
It measures a fan-out broadcast (deliveries per second out of fanout, the fanout
process's peak RSS) and, per vendor, deliveries per second through one sender process
against the simulator and the p99 of its vendor calls.`,
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
			_, err = bench.Run(cmd.Context(), bench.Options{StateDir: cfg.StateDir, BroadcastDevices: devices, SenderDeliveries: senderDeliveries, Binary: bin,
				Timeout: timeout, Progress: cmd.ErrOrStderr(), Figures: cmd.OutOrStdout()})
			return err
		},
	}
	cmd.Flags().IntVar(&devices, "broadcast-devices", 1_000_000, "audience of the fan-out broadcast")
	cmd.Flags().IntVar(&senderDeliveries, "sender-deliveries", 50_000, "deliveries per vendor for the sender figures (0 skips them)")
	cmd.Flags().DurationVar(&timeout, "timeout", 15*time.Minute, "upper bound of the whole run")
	return cmd
}
