package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/pushpipe/pushpipe/internal/bench"
)

func newBenchCmd() *cobra.Command {
	var devices int
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Run the benchmark on the embedded stack and write <state-dir>/bench/latest.txt",
		Long: `Run the reproducible benchmark: start the embedded broker and ClickHouse in
<state-dir>/bench, run workers as their own processes, and print every figure as
'figure_name: value unit'; the figures are merged into <state-dir>/bench/latest.txt.
Today it measures a fan-out broadcast: deliveries per second out of fanout and the
fanout process's peak RSS.`,
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
			_, err = bench.Run(cmd.Context(), bench.Options{StateDir: cfg.StateDir, BroadcastDevices: devices, Binary: bin,
				Timeout: timeout, Progress: cmd.ErrOrStderr(), Figures: cmd.OutOrStdout()})
			return err
		},
	}
	cmd.Flags().IntVar(&devices, "broadcast-devices", 1_000_000, "audience of the fan-out broadcast")
	cmd.Flags().DurationVar(&timeout, "timeout", 15*time.Minute, "upper bound of the whole run")
	return cmd
}
