package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers/scheduler"
)

// schedulesFlags are the flags both schedules subcommands share.
type schedulesFlags struct {
	region  string
	appID   string
	brokers string
}

func (f *schedulesFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.region, "region", "", "region whose push.schedules.<region> to read (required)")
	cmd.Flags().StringVar(&f.appID, "app", "", "only the scheduled pushes of this app id")
	cmd.Flags().StringVar(&f.brokers, "brokers", "", "Kafka bootstrap brokers, comma-separated (default: kafka.brokers, else the local broker of pushpipe dev)")
	_ = cmd.MarkFlagRequired("region")
}

// scheduleEnv is where the schedules commands work: the brokers, their
// Kafka security, the codec of the records written (kafka.compression) and
// the default time zone of schedules not yet admitted.
type scheduleEnv struct {
	brokers     []string
	sec         pipeline.KafkaSecurity
	compression pipeline.Compression
	def         *time.Location
}

// setup loads the configuration and checks the flags.
func (f *schedulesFlags) setup(cmd *cobra.Command) (scheduleEnv, error) {
	cfg, _, err := loadConfig(cmd)
	if err != nil {
		return scheduleEnv{}, err
	}
	if !schema.ValidRegion(f.region) {
		return scheduleEnv{}, fail("--region %q: use one of %s", f.region, strings.Join(schema.Regions(), ", "))
	}
	loc, err := cfg.Scheduler.Location()
	if err != nil {
		return scheduleEnv{}, fail("invalid configuration: %v", err)
	}
	ep := endpointFlags{brokers: f.brokers}
	brokers, sec, err := ep.kafka(cfg)
	if err != nil {
		return scheduleEnv{}, err
	}
	return scheduleEnv{brokers: brokers, sec: sec, compression: cfg.Kafka.Compression, def: loc}, nil
}

func newSchedulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedules",
		Short: "List and cancel scheduled and loop pushes (mPaaS scheduled push tasks)",
		Long: `Scheduled pushes (strategyType 1, at fixedTime) and loop pushes (strategyType 2, daily,
weekly or monthly) live on the compacted topic push.schedules.<region>, which the scheduler
worker fires from. A schedule's id is the mPaaS parentId; each occurrence has its own id
(uniqueId) <scheduleId>-<yyyyMMddHHmmss>, which is also the task id of the pushes it sends.`,
	}
	cmd.AddCommand(newSchedulesListCmd(), newSchedulesCancelCmd())
	return cmd
}

// scheduleView is one schedule as `schedules list --json` prints it.
type scheduleView struct {
	ScheduleID    string                 `json:"scheduleId"`
	AppID         string                 `json:"appId"`
	WorkspaceID   string                 `json:"workspaceId,omitempty"`
	TaskName      string                 `json:"taskName,omitempty"`
	Type          schema.PushType        `json:"type,omitempty"`
	Status        string                 `json:"status"`
	StrategyType  int                    `json:"strategyType"`
	Strategy      schema.StrategyContent `json:"strategyContent"`
	Description   string                 `json:"description"`
	TimeZone      string                 `json:"timeZone"`
	CreatedAt     int64                  `json:"gmtCreate"`
	CancelledAt   int64                  `json:"cancelledAt,omitempty"`
	RefusedCode   int                    `json:"refusedCode,omitempty"`
	RefusedReason string                 `json:"refusedReason,omitempty"`
	Tasks         []schema.ScheduledTask `json:"tasks"`
}

func newSchedulesListCmd() *cobra.Command {
	var f schedulesFlags
	var id, status string
	var next int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List scheduled and loop pushes with the occurrences already handled and the next ones",
		Long: `List the scheduled and loop pushes of a region, oldest first, read from the compacted topic
push.schedules.<region> (the scheduler's own state). Each schedule shows its status (waiting
for the scheduler, active, done, cancelled, refused) and its occurrences: every one handled so
far (executed, missed, cancelled) and the next --next ones to come. --id takes a schedule id
(all its occurrences) or an occurrence id (that one only).`,
		Example: `  pushpipe schedules list --region sg
  pushpipe schedules list --region sg --app ONEX570DA89211721 --status active --next 10
  pushpipe schedules list --region sg --id s51cf39fdbdac762dad0d47ff --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, err := f.setup(cmd)
			if err != nil {
				return err
			}
			if next < 0 {
				return fail("--next %d: use 0 or more", next)
			}
			switch status {
			case "", schema.ScheduleWaiting, schema.ScheduleActive, schema.ScheduleDone, schema.ScheduleCancelled, schema.ScheduleRefused:
			default:
				return fail("--status %q: use waiting, active, done, cancelled or refused", status)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			all, err := scheduler.ReadSchedules(ctx, env.brokers, env.sec, f.region)
			if err != nil {
				return err
			}
			views := listSchedules(all, env.def, f.appID, id, status, next)
			if asJSON {
				return printJSON(cmd, views)
			}
			out := cmd.OutOrStdout()
			if len(views) == 0 {
				_, _ = fmt.Fprintf(out, "no scheduled pushes match in %s\n", pipeline.SchedulesTopic(f.region))
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			for i, v := range views {
				if i > 0 {
					_, _ = fmt.Fprintln(tw)
				}
				_, _ = fmt.Fprintln(tw, "SCHEDULE\tAPP\tTYPE\tSTATUS\tSTRATEGY\tCREATED")
				_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.ScheduleID, v.AppID, v.Type, v.Status, v.Description,
					fmtMillis(v.CreatedAt, v.TimeZone))
				if v.RefusedReason != "" {
					_, _ = fmt.Fprintf(tw, "  refused %d: %s\n", v.RefusedCode, v.RefusedReason)
				}
				if len(v.Tasks) > 0 {
					_, _ = fmt.Fprintln(tw, "  OCCURRENCE\tPUSH TIME\tSTATUS")
					for _, t := range v.Tasks {
						_, _ = fmt.Fprintf(tw, "  %s\t%s\t%s\n", t.UniqueID, fmtMillis(t.PushTime, v.TimeZone), t.Status)
					}
				}
			}
			return tw.Flush()
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&id, "id", "", "only this schedule id, or this occurrence id")
	cmd.Flags().StringVar(&status, "status", "", "only schedules with this status: waiting, active, done, cancelled or refused")
	cmd.Flags().IntVar(&next, "next", 5, "upcoming occurrences to show per schedule")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

// listSchedules filters the schedules and builds their views.
func listSchedules(all []schema.Schedule, def *time.Location, appID, id, status string, next int) []scheduleView {
	scheduleID, occurrence := id, ""
	if sid, _, ok := schema.ParseOccurrenceID(id); ok {
		scheduleID, occurrence = sid, id
	}
	views := []scheduleView{}
	for _, s := range all {
		if (appID != "" && s.AppID != appID) || (scheduleID != "" && s.ScheduleID != scheduleID) {
			continue
		}
		loc, err := s.Location(def)
		if err != nil {
			loc = def
		}
		p, _ := s.Plan(def)
		st := s.Status(p)
		if status != "" && st != status {
			continue
		}
		v := scheduleView{ScheduleID: s.ScheduleID, AppID: s.AppID, WorkspaceID: s.WorkspaceID, Status: st,
			StrategyType: s.StrategyType, Strategy: s.Strategy, Description: s.Describe(loc), TimeZone: loc.String(),
			CreatedAt: s.CreatedAt, CancelledAt: s.CancelledAt, RefusedCode: s.RefusedCode, RefusedReason: s.RefusedReason}
		if s.Request != nil {
			v.TaskName, v.Type = s.Request.TaskName, s.Request.Type
		}
		if occurrence != "" {
			for _, t := range s.Tasks(p, math.MaxInt) {
				if t.UniqueID == occurrence {
					v.Tasks = append(v.Tasks, t)
					break
				}
			}
		} else {
			v.Tasks = s.Tasks(p, next)
		}
		if v.Tasks == nil {
			v.Tasks = []schema.ScheduledTask{}
		}
		views = append(views, v)
	}
	return views
}

func fmtMillis(ms int64, zone string) string {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		loc = time.UTC
	}
	return time.UnixMilli(ms).In(loc).Format("2006-01-02 15:04:05 MST")
}

func newSchedulesCancelCmd() *cobra.Command {
	var f schedulesFlags
	var id string
	cmd := &cobra.Command{
		Use:   "cancel",
		Short: "Cancel a scheduled or loop push, or one occurrence of it",
		Long: `Cancel a scheduled push task that has not run. With a schedule id (parentId) every occurrence
not yet sent is cancelled; with an occurrence id (uniqueId, as 'schedules list' shows) only that
occurrence. The cancellation is written to push.schedules.<region>; the scheduler applies it as
soon as it reads it (an occurrence being sent at that very moment is still sent). Cancelling
twice is not an error.`,
		Example: `  pushpipe schedules cancel --region sg --id s51cf39fdbdac762dad0d47ff
  pushpipe schedules cancel --region sg --id s51cf39fdbdac762dad0d47ff-20260105180000 --app ONEX570DA89211721`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, err := f.setup(cmd)
			if err != nil {
				return err
			}
			if id == "" {
				return fail("--id is empty: give a schedule id or an occurrence id (see pushpipe schedules list)")
			}
			prod, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: env.brokers, Security: env.sec, Compression: env.compression})
			if err != nil {
				return err
			}
			defer func() { _ = prod.Close() }()
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			res, err := scheduler.Cancel(ctx, env.brokers, env.sec, prod, f.region, f.appID, id, time.Now(), env.def)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			what := "schedule " + res.Schedule.ScheduleID
			if res.Occurrence != "" {
				what = "occurrence " + res.Occurrence + " of schedule " + res.Schedule.ScheduleID
			}
			if res.AlreadyCancelled {
				_, _ = fmt.Fprintf(out, "%s (app %s) was already cancelled\n", what, res.Schedule.AppID)
				return nil
			}
			_, _ = fmt.Fprintf(out, "cancelled %s (app %s)\n", what, res.Schedule.AppID)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&id, "id", "", "schedule id (every occurrence not yet sent) or occurrence id (that one)")
	return cmd
}
