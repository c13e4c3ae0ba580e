// Command pushpipe is the one binary of the pushpipe push-notification
// pipeline. Each worker is a subcommand serving one region; `pushpipe dev`
// starts everything at once with embedded Kafka and ClickHouse.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/pushpipe/pushpipe/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError marks an error caused by how the command was called.
type usageError struct{ error }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "pushpipe",
		Short: "Region-isolated push-notification pipeline on Kafka and ClickHouse",
		Long: `pushpipe turns push requests published on Kafka (push.requests.<region>) into
vendor deliveries (MiPush, APNs, FCM, Huawei, Honor, OPPO, vivo, self-built channel) and
records every lifecycle event in ClickHouse (push_<region>.events).

Each worker subcommand runs one stage for one region; scale a stage by running more
replicas. 'pushpipe dev' starts every stage for every region together with an embedded
Kafka-protocol broker, an embedded ClickHouse and the vendor simulator.`,
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.PersistentFlags().StringP("config", "c", "", "YAML configuration file (see configs/pushpipe.example.yaml); defaults apply when empty")
	root.PersistentFlags().String("log-level", "", "log level: debug, info, warn, error (overrides logLevel)")
	root.PersistentFlags().String("log-format", "", "log lines on stderr: auto (readable and coloured on a terminal, else JSON), console or json (overrides logFormat, default auto)")
	root.AddCommand(
		newDevCmd(),
		newWorkerCmd(kindFanout), newWorkerCmd(kindSender), newWorkerCmd(kindEventsink), newWorkerCmd(kindRegistry), newWorkerCmd(kindRetry),
		newWorkerCmd(kindScheduler), newWorkerCmd(app.Recall), newSchedulesCmd(),
		newReceiptsCmd(),
		newGatewayCmd(),
		newConsoleCmd(),
		newCallbacksCmd(),
		newVendorsimCmd(),
		newPublishCmd(),
		newSendCmd(),
		newRevokeCmd(),
		newEventsCmd(),
		newTemplateCmd(),
		newDeviceCmd(),
		newTagCmd(),
		newStatsCmd(),
		newFunnelCmd(),
		newTasksCmd(),
		newTaskCmd(),
		newABTestCmd(),
		newBenchCmd(),
	)
	return root
}

func fail(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }
