package main

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pushpipe/pushpipe/gateway"
)

func newTaskCmd() *cobra.Command {
	var f chFlags
	cmd := &cobra.Command{
		Use:   "task TASKID",
		Short: "Details of one push task: type, pushed, succeeded and arrived counts, start, end, duration and its funnel",
		Long: `Print the details of one push task (mPaaS task details) from the region's ClickHouse
events: its push type, the messages pushed (deliveries emitted and messages to invalid
targets), successfully pushed (accepted by the vendor or the self-built channel) and
arrived, its first and last event and the duration between them, and its funnel (planned
→ invalid devices → filtered → valid → acked → arrived → opened). A broadcast none of
whose devices matched its filters (platform, pushStatus, bind period, tags, appVersions,
models) shows "audience  empty".`,
		Example: `  pushpipe task demo-task-1 --region sg
  pushpipe task send-1763856000000-00001 --region sg --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			conn, db, done, err := f.connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			d, err := gateway.TaskDetails(cmd.Context(), conn, db, f.appID, args[0])
			if errors.Is(err, gateway.ErrTaskNotFound) {
				return fail("task %s of app %s has no events in region %s (see pushpipe tasks --region %s)", args[0], f.appID, f.region, f.region)
			}
			if err != nil {
				return err
			}
			if f.asJSON {
				return printJSON(cmd, d)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			ms := func(v int64) string { return time.UnixMilli(v).UTC().Format("2006-01-02 15:04:05.000 UTC") }
			for _, r := range [][2]string{
				{"task", d.TaskID}, {"push type", d.PushType}, {"pushed", fmt.Sprint(d.PushNum)},
				{"succeeded", fmt.Sprint(d.PushSuccessNum)}, {"arrived", fmt.Sprint(d.PushArrivalNum)},
				{"start", ms(d.StartTime)}, {"end", ms(d.EndTime)}, {"duration", d.Duration},
			} {
				_, _ = fmt.Fprintf(tw, "%s\t%s\n", r[0], r[1])
			}
			if d.AudienceEmpty {
				_, _ = fmt.Fprintf(tw, "audience\tempty: no device matched the broadcast's filters\n")
			}
			fn := d.Funnel
			_, _ = fmt.Fprintf(tw, "funnel\tplanned %d → invalid %d → filtered %d → valid %d → acked %d → arrived %d → opened %d\n",
				fn.Planned, fn.InvalidDevice, fn.Filtered, fn.Valid, fn.Acked, fn.Arrived, fn.Opened)
			return tw.Flush()
		},
	}
	f.register(cmd)
	return cmd
}
