package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/schema"
)

func newEventsCmd() *cobra.Command {
	var region, task, msg string
	var limit int
	var asJSON bool
	var ep endpointFlags
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Show the lifecycle events of a task or message from ClickHouse",
		Long: `Show the events recorded in push_<region>.events for a task (--task) or a message
(--msg), oldest first, followed by a count per event. Events reach ClickHouse a moment
after they happen; run it again if the chain is still moving.`,
		Example: `  pushpipe events --region sg --task demo-task-1
  pushpipe events --region sg --msg demo-msg-1 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if !schema.ValidRegion(region) {
				return fail("--region %q: use one of %s", region, strings.Join(schema.Regions(), ", "))
			}
			if (task == "") == (msg == "") {
				return fail("give exactly one of --task or --msg")
			}
			_, chAddr := ep.resolve(cfg)
			conn, err := app.OpenClickHouse(cmd.Context(), cfg.ClickHouse, chAddr)
			if err != nil {
				return err
			}
			defer func() { _ = conn.Close() }()
			col, val := "task_id", task
			if msg != "" {
				col, val = "msg_id", msg
			}
			rows, err := conn.Query(cmd.Context(), `SELECT ts, event, msg_id, target, device_id, channel, status_code, status_desc, attempt
				FROM `+cfg.Database(region)+`.events FINAL WHERE `+col+` = ? ORDER BY ts, event LIMIT ?`, val, limit)
			if err != nil {
				return fmt.Errorf("querying events: %w", err)
			}
			defer func() { _ = rows.Close() }()
			type row struct {
				TS         time.Time `json:"ts"`
				Event      string    `json:"event"`
				MsgID      string    `json:"msgId"`
				Target     string    `json:"target"`
				DeviceID   string    `json:"deviceId"`
				Channel    string    `json:"channel"`
				StatusCode int64     `json:"statusCode"`
				StatusDesc string    `json:"statusDesc"`
				Attempt    uint16    `json:"attempt"`
			}
			var all []row
			counts := map[string]int{}
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.TS, &r.Event, &r.MsgID, &r.Target, &r.DeviceID, &r.Channel, &r.StatusCode, &r.StatusDesc, &r.Attempt); err != nil {
					return fmt.Errorf("reading events: %w", err)
				}
				all = append(all, r)
				counts[r.Event]++
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("reading events: %w", err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(all)
			}
			if len(all) == 0 {
				_, _ = fmt.Fprintf(out, "no events yet for %s=%s in %s.events\n", col, val, cfg.Database(region))
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			_, _ = fmt.Fprintln(tw, "TS\tEVENT\tMSG\tTARGET\tDEVICE\tCHANNEL\tSTATUS\tDESCRIPTION")
			for _, r := range all {
				_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.TS.Format("15:04:05.000"), r.Event, r.MsgID, r.Target, r.DeviceID, r.Channel, r.StatusCode, truncate(r.StatusDesc, 60))
			}
			_ = tw.Flush()
			var parts []string
			for _, t := range schema.AllEventTypes() {
				if n := counts[string(t)]; n > 0 {
					parts = append(parts, fmt.Sprintf("%s=%d", t, n))
				}
			}
			_, _ = fmt.Fprintf(out, "\ncounts: %s\n", strings.Join(parts, " "))
			return nil
		},
	}
	cmd.Flags().StringVar(&region, "region", "sg", "region whose database to read")
	cmd.Flags().StringVar(&task, "task", "", "task id (as printed by publish)")
	cmd.Flags().StringVar(&msg, "msg", "", "message id (the msgKey of a target)")
	cmd.Flags().IntVar(&limit, "limit", 1000, "at most this many events")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	ep.register(cmd)
	return cmd
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
