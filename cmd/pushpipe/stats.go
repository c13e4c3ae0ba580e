package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// statsFlags are the flags of pushpipe stats.
type statsFlags struct {
	since                                             time.Duration
	from, to, gran, platform, channel, pushType, task string
	appVersions                                       []string
}

// query builds the statistics query of the flags (without the app id), or
// a usage error naming the flag to fix.
func (o statsFlags) query() (schema.StatsQuery, error) {
	versions, err := appVersionsOf(o.appVersions)
	if err != nil {
		return schema.StatsQuery{}, err
	}
	q := schema.StatsQuery{Granularity: o.gran, Platform: o.platform, Channel: o.channel, PushType: o.pushType, TaskID: o.task, AppVersions: versions}
	if q.From, q.To, err = timeRange(o.from, o.to, o.since); err != nil {
		return schema.StatsQuery{}, fail("%v", err)
	}
	return q, nil
}

// appVersionFlag registers --app-version: repeated, or comma-separated.
func appVersionFlag(cmd *cobra.Command, into *[]string, what string) {
	cmd.Flags().StringArrayVar(into, "app-version", nil, fmt.Sprintf("only %s of devices reporting this app version; repeat it or comma-separate "+
		"for several (at most %d)", what, schema.MaxStatsAppVersions))
}

// appVersionsOf splits and checks the values of --app-version: nil when
// the flag was not given, a usage error for an empty version or too many.
func appVersionsOf(raw []string) ([]string, error) {
	var out []string
	for _, r := range raw {
		out = append(out, schema.SplitAppVersions(r)...)
	}
	if err := schema.ValidateAppVersions(out); err != nil {
		return nil, fail("--app-version: %v", err)
	}
	return out, nil
}

func newStatsCmd() *cobra.Command {
	var f chFlags
	var o statsFlags
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Core push metrics of an app: pushed, succeeded, arrived, opened, ignored and their rates",
		Long: `Print the core metrics of the mPaaS data overview (§6.1) for a time range, as a total
and a series per minute, hour or day (minute and hour only for ranges of at most one day;
at most 90 days), read from the per-minute aggregates. Pushed counts the messages the
backend had to push (deliveries emitted, and messages to invalid targets: no binding or a
dead token); succeeded those the vendor or the self-built channel accepted (never a
message that failed, expired or was revoked); arrived/opened/ignored come from receipts
and the app SDK. Rates: arrival = arrived / pushed, open = opened / arrived, ignore =
ignored / arrived. --app-version keeps the devices reporting those versions; a version
no device reported gives zeros. docs/analytics.md defines every figure.`,
		Example: `  pushpipe stats --region sg --since 24h --granularity hour
  pushpipe stats --region sg --from 2026-11-01 --to 2026-11-23 --channel mipush --json
  pushpipe stats --region sg --since 2160h --granularity day --app-version 2.0.1,2.1.0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := o.query()
			if err != nil {
				return err
			}
			conn, db, done, err := f.connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			q.AppID = f.appID
			res, err := store.QueryStats(cmd.Context(), conn, db, q)
			if err != nil {
				return fail("%v", err)
			}
			if f.asJSON {
				return printJSON(cmd, res)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', tabwriter.AlignRight)
			_, _ = fmt.Fprintln(tw, "TIME\tPUSHED\tSUCCEEDED\tARRIVED\tOPENED\tIGNORED\tARRIVAL\tOPEN\tIGNORE\t")
			row := func(label string, p schema.StatsPoint) {
				_, _ = fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%.1f%%\t%.1f%%\t%.1f%%\t\n", label, p.Pushed, p.Succeeded, p.Arrived, p.Opened, p.Ignored,
					100*p.ArrivalRate, 100*p.OpenRate, 100*p.IgnoreRate)
			}
			for _, p := range res.Series {
				row(p.Time.Format("2006-01-02 15:04"), p)
			}
			row("total", res.Total)
			return tw.Flush()
		},
	}
	cmd.Flags().DurationVar(&o.since, "since", 24*time.Hour, "range ending now (ignored when --from is given)")
	cmd.Flags().StringVar(&o.from, "from", "", "range start, YYYY-MM-DD or RFC 3339 (UTC)")
	cmd.Flags().StringVar(&o.to, "to", "", "range end, YYYY-MM-DD or RFC 3339 (default: now)")
	cmd.Flags().StringVar(&o.gran, "granularity", "hour", "minute, hour or day")
	cmd.Flags().StringVar(&o.platform, "platform", "", "only this platform (android, ios, harmony)")
	cmd.Flags().StringVar(&o.channel, "channel", "", "only this channel (mipush, apns, fcm, hms, honor, oppo, vivo, self, sms)")
	cmd.Flags().StringVar(&o.pushType, "push-type", "", "only this push type (SIMPLE, TEMPLATE, MULTIPLE, BROADCAST)")
	cmd.Flags().StringVar(&o.task, "task", "", "only this task id")
	appVersionFlag(cmd, &o.appVersions, "the events")
	f.register(cmd)
	return cmd
}

// timeRange resolves --from/--to/--since into [from, to).
func timeRange(from, to string, since time.Duration) (time.Time, time.Time, error) {
	parse := func(s string) (time.Time, error) {
		for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
			if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
				return t, nil
			}
		}
		return time.Time{}, fmt.Errorf("%q is not YYYY-MM-DD or an RFC 3339 time", s)
	}
	end := time.Now().UTC()
	if to != "" {
		t, err := parse(to)
		if err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("--to: %w", err)
		}
		end = t
	}
	start := end.Add(-since)
	if from != "" {
		t, err := parse(from)
		if err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("--from: %w", err)
		}
		start = t
	}
	return start, end, nil
}

func newFunnelCmd() *cobra.Command {
	var f chFlags
	var task, msg string
	cmd := &cobra.Command{
		Use:     "funnel",
		Short:   "The funnel of a task or message: planned, invalid devices, filtered, valid, acked, arrived, opened",
		Example: "  pushpipe funnel --region sg --task demo-task-1\n  pushpipe funnel --region sg --msg demo-msg-1",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (task == "") == (msg == "") {
				return fail("give exactly one of --task or --msg")
			}
			conn, db, done, err := f.connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			fn, err := store.QueryFunnel(cmd.Context(), conn, db, f.appID, task, msg)
			if err != nil {
				return fail("%v", err)
			}
			if f.asJSON {
				return printJSON(cmd, fn)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			for _, r := range []struct {
				name string
				n    uint64
			}{{"planned", fn.Planned}, {"invalid devices", fn.InvalidDevice}, {"filtered", fn.Filtered}, {"valid", fn.Valid},
				{"acked", fn.Acked}, {"arrived", fn.Arrived}, {"opened", fn.Opened}} {
				bar := ""
				if fn.Planned > 0 {
					bar = strings.Repeat("█", int(r.n*30/max(fn.Planned, 1)))
				}
				_, _ = fmt.Fprintf(tw, "%s\t%d\t%s\n", r.name, r.n, bar)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&task, "task", "", "task id")
	cmd.Flags().StringVar(&msg, "msg", "", "message id (msgKey)")
	f.register(cmd)
	return cmd
}

func newTasksCmd() *cobra.Command {
	var f chFlags
	var since time.Duration
	var limit int
	var task, name string
	var rawVersions []string
	cmd := &cobra.Command{
		Use:   "tasks",
		Short: "List push tasks with their pushed, succeeded and arrived counts, start, end and duration",
		Long: `List the push tasks of an app that started within --since, newest first (mPaaS task
list): pushed counts the messages the backend had to push (deliveries emitted and
messages to invalid targets), succeeded those the vendor or the self-built channel
accepted, arrived the arrival receipts. With --app-version only the tasks that reached
devices reporting those versions are listed, and only their events are counted.`,
		Example: "  pushpipe tasks --region sg --since 168h\n  pushpipe tasks --region sg --task demo-task-1\n  pushpipe tasks --region sg --name 'Spring sale'\n" +
			"  pushpipe tasks --region sg --app-version 2.1.0",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			versions, err := appVersionsOf(rawVersions)
			if err != nil {
				return err
			}
			conn, db, done, err := f.connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			now := time.Now().UTC()
			ts, err := store.ListTasks(cmd.Context(), conn, db, schema.TaskQuery{AppID: f.appID, From: now.Add(-since), To: now.Add(time.Minute),
				TaskID: task, TaskName: name, AppVersions: versions, Limit: limit})
			if err != nil {
				return err
			}
			if f.asJSON {
				return printJSON(cmd, ts)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			_, _ = fmt.Fprintln(tw, "TASK\tNAME\tTYPE\tPUSHED\tSUCCEEDED\tARRIVED\tSTART\tEND\tDURATION")
			for _, t := range ts {
				_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", t.TaskID, t.TaskName, t.PushType, t.PushNum, t.PushSuccessNum, t.PushArrivalNum,
					t.Start.Format("2006-01-02 15:04:05"), t.End.Format("2006-01-02 15:04:05"), t.Duration.Round(time.Millisecond))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().DurationVar(&since, "since", 7*24*time.Hour, "tasks that started within this long")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many tasks")
	cmd.Flags().StringVar(&task, "task", "", "only this task (task details)")
	cmd.Flags().StringVar(&name, "name", "", "only the tasks with this exact task name (the requests' taskName)")
	appVersionFlag(cmd, &rawVersions, "the tasks and events")
	f.register(cmd)
	return cmd
}
