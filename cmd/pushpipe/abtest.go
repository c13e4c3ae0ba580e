package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pushpipe/pushpipe/gateway"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/producer"
	"github.com/pushpipe/pushpipe/schema"
)

func newABTestCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "abtest",
		Short: "A/B copy tests: send 2–5 copies to a sample, then the best one to everyone else",
		Long: `An A/B copy test (MiPush §5.1.3) is a SIMPLE push whose abTest field gives 2–5 copies
(title and content). A sample of the targets (--sample percent, 1–50) is split evenly between
the copies, each sent at once as its own task (<taskId>-a, -b, …); at the decision time the
scheduler records the copy with the best open rate (or arrival rate) with the figures it was
chosen on and sends it to the other targets as <taskId>-rest, once.`,
	}
	cmd.AddCommand(newABTestCreateCmd(), newABTestShowCmd())
	return cmd
}

func newABTestCreateCmd() *cobra.Command {
	var f chFlags
	var taskName, targetsFile, metric string
	var variants []string
	var sample, deliverType int
	var decision, expires time.Duration
	cmd := &cobra.Command{
		Use:   "create --targets FILE --variant 'TITLE|CONTENT' --variant … --sample PERCENT",
		Short: "Start an A/B copy test: publish its request to push.requests.<region>",
		Long: `Start an A/B copy test. --targets names a file of targets, one a line: "target" (its msgKey
is derived from the task and the target) or "target msgKey"; at most 10,000, device ids by
default (--deliver-type 1; 2 iOS, 7 HarmonyOS devices, 3 users, 10 aliases, 11 user accounts).
Each --variant is one copy, "title|content" (2 to 5). The request is checked as the pipeline
will check it before it is published; the task id printed is the test's id (pushpipe abtest
show TASKID).`,
		Example: `  pushpipe abtest create --region sg --task-name 'spring sale' --targets devices.txt \
      --variant 'Spring sale|Everything 20% off' --variant 'Only today|20% off everything' \
      --sample 10 --decision 15m
  pushpipe abtest show <taskId> --region sg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if !schema.ValidRegion(f.region) {
				return fail("--region %q: use one of %s", f.region, strings.Join(schema.Regions(), ", "))
			}
			if f.appID == "" {
				f.appID = cfg.Apps[0].AppID
			}
			if taskName == "" {
				return fail("--task-name is required")
			}
			targets, err := readABTargets(targetsFile, taskName)
			if err != nil {
				return err
			}
			vs := make([]schema.ABVariant, 0, len(variants))
			for _, v := range variants {
				title, content, ok := strings.Cut(v, "|")
				if !ok {
					return fail("--variant %q: give \"title|content\"", v)
				}
				vs = append(vs, schema.ABVariant{Title: title, Content: content})
			}
			req := producer.ABTest(producer.App{Region: f.region, AppID: f.appID, WorkspaceID: "default"}, taskName, deliverType, targets, sample, vs...)
			req.ABTest.Metric, req.ABTest.DecisionSeconds = metric, int64(decision/time.Second)
			req.ExpiredSeconds = int64(expires / time.Second)
			out, pub, err := producer.Prepare(req, f.region, time.Now())
			if err != nil {
				return fail("%v", err)
			}
			brokers, sec, err := f.ep.kafka(cfg)
			if err != nil {
				return err
			}
			p, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers, Security: sec, Compression: cfg.Kafka.Compression, Logger: log})
			if err != nil {
				return err
			}
			defer func() { _ = p.Close() }()
			if err := p.Produce(cmd.Context(), []pipeline.Output{out}); err != nil {
				return fmt.Errorf("publishing A/B test %s: %w", pub.TaskID, err)
			}
			_, _ = fmt.Fprintf(cmd.OutOrStdout(), "A/B test %s: %d variants to %d%% of %d targets, decided by %s at %s\n", pub.TaskID, len(vs), sample, len(targets),
				req.ABTest.MetricName(), time.UnixMilli(req.ABTest.Decision(req.AcceptedAt)).UTC().Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&f.region, "region", "sg", "region whose push.requests.<region> to publish to")
	cmd.Flags().StringVar(&f.appID, "app", "", "app id (default: the first configured app)")
	cmd.Flags().StringVar(&f.ep.brokers, "brokers", "", "Kafka bootstrap brokers, comma-separated (default: kafka.brokers, else the local broker of pushpipe dev)")
	cmd.Flags().StringVar(&taskName, "task-name", "", "the task name (required)")
	cmd.Flags().StringVar(&targetsFile, "targets", "", `file of targets, one a line: "target" or "target msgKey" (required)`)
	cmd.Flags().IntVar(&deliverType, "deliver-type", schema.DeliverAndroid, "what a target is: 1 Android, 2 iOS, 7 HarmonyOS device, 3 user, 10 alias, 11 user account")
	cmd.Flags().StringArrayVar(&variants, "variant", nil, `one copy, "title|content"; give 2 to 5`)
	cmd.Flags().IntVar(&sample, "sample", 10, "percent of the targets sampled, 1–50")
	cmd.Flags().StringVar(&metric, "metric", schema.ABMetricOpenRate, "open_rate (opened / arrived) or arrival_rate (arrived / pushed)")
	cmd.Flags().DurationVar(&decision, "decision", schema.DefaultABDecisionSeconds*time.Second, "time from acceptance to the decision, 10s–168h")
	cmd.Flags().DurationVar(&expires, "expires", 24*time.Hour, "validity of every message (expiredSeconds)")
	_ = cmd.MarkFlagRequired("targets")
	return cmd
}

// readABTargets reads a targets file: "target" or "target msgKey" a line;
// a missing msgKey is "<taskName>-<target>".
func readABTargets(path, taskName string) (map[string]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fail("reading --targets: %v", err)
	}
	defer func() { _ = fh.Close() }()
	out := map[string]string{}
	sc := bufio.NewScanner(fh)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		switch len(fields) {
		case 0:
		case 1:
			out[fields[0]] = taskName + "-" + fields[0]
		case 2:
			out[fields[0]] = fields[1]
		default:
			return nil, fail("%s line %d: give \"target\" or \"target msgKey\"", path, n)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fail("reading --targets: %v", err)
	}
	return out, nil
}

func newABTestShowCmd() *cobra.Command {
	var f chFlags
	cmd := &cobra.Command{
		Use:   "show TASKID",
		Short: "An A/B test: its variants and their figures, the rest of the audience, and the decision with its numbers",
		Long: `Show the A/B test a push started (TASKID, its task id): its status (testing, decided, sent,
cancelled), the decision time, each variant's copy, targets and statistics now (pushed, arrived,
opened, open and arrival rate, as pushpipe stats gives them for the variant's task), the rest of
the audience, and once decided the winner with the figures it was chosen on.`,
		Example: `  pushpipe abtest show t1a2b3c4d5e6f7a8b9c0d1e2f --region sg
  pushpipe abtest show t1a2b3c4d5e6f7a8b9c0d1e2f --region sg --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			conn, db, done, err := f.connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			cfg, _, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			brokers, sec, err := f.ep.kafka(cfg)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			t, err := gateway.LoadABTest(ctx, conn, db, brokers, sec, f.region, f.appID, args[0], time.Now())
			if errors.Is(err, gateway.ErrABTestNotFound) {
				return fail("task %s of app %s started no A/B test in region %s", args[0], f.appID, f.region)
			}
			if err != nil {
				return err
			}
			if f.asJSON {
				return printJSON(cmd, t)
			}
			return printABTest(cmd, t)
		},
	}
	f.register(cmd)
	return cmd
}

func printABTest(cmd *cobra.Command, t *gateway.ABTest) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
	ms := func(v int64) string { return time.UnixMilli(v).UTC().Format("2006-01-02 15:04:05 UTC") }
	_, _ = fmt.Fprintf(tw, "test\t%s (%s)\nstatus\t%s\nmetric\t%s\nsample\t%d%% of %d targets\naccepted\t%s\ndecision\t%s\n",
		t.TestID, t.TaskName, t.Status, t.Metric, t.SamplePercent, t.Targets, ms(t.AcceptedAt), ms(t.DecisionAt))
	_, _ = fmt.Fprintln(tw, "\npart\ttask\ttargets\tpushed\tarrived\topened\tarrival rate\topen rate\ttitle")
	for _, p := range append(t.Variants, t.Rest) {
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%.4f\t%.4f\t%s\n", p.Part, p.TaskID, p.Targets, p.Pushed, p.Arrived, p.Opened, p.ArrivalRate, p.OpenRate, p.Title)
	}
	if d := t.Decision; d != nil {
		_, _ = fmt.Fprintf(tw, "\nwinner\t%s, decided at %s\nwhy\t%s\n", strings.ToUpper(d.Winner), ms(d.DecidedAt), d.Reason)
		for _, v := range d.Variants {
			_, _ = fmt.Fprintf(tw, "decided on\t%s: pushed %d, arrived %d, opened %d, %s %.4f\n", strings.ToUpper(v.Part), v.Pushed, v.Arrived, v.Opened, d.Metric, v.Rate)
		}
	}
	return tw.Flush()
}
