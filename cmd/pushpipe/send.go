package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pushpipe/pushpipe/gateway"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/producer"
	"github.com/pushpipe/pushpipe/schema"
)

// MaxSendTargets is the most targets `pushpipe send` takes from a file.
const MaxSendTargets = 500_000

// sendBatch is how many requests `pushpipe send` publishes at once.
const sendBatch = 200

// sendFlags are the flags of `pushpipe send`.
type sendFlags struct {
	region, appID, workspace    string
	taskName, taskID            string
	title, content, template    string
	kv, targets                 []string
	targetsFile, jsonFile       string
	deliverType                 int
	expiredSeconds              int64
	output, gatewayURL, keyPath string
	ep                          endpointFlags
}

func newSendCmd() *cobra.Command {
	var f sendFlags
	cmd := &cobra.Command{
		Use:   "send",
		Short: "Send a push to targets given on the command line or in a file (up to 500,000), or a full request from a JSON file",
		Long: `Send a push: the content (--title and --content, or --template with --kv values) to the
targets of --target (repeatable, comma-separated) or --targets-file (one target a line,
blank lines and repeats skipped, at most 500,000), or the full request(s) of --json FILE.

A push request carries a bounded number of targets (mPaaS: 10 for SIMPLE and TEMPLATE,
100 for MULTIPLE), so a larger audience is split into several requests:
  - with --title/--content: SIMPLE requests of 10 targets each;
  - with --template: MULTIPLE requests of 100 targets each, every target rendered with
    the --kv values.
Every request is validated (the result codes fanout gives) before the first is published.
Request i gets the task id <task-id>-<i> (5 digits) and target n the msgKey
<task-id>-<n> (7 digits), so sending the same file again with the same --task-id delivers
nothing twice; a single request uses <task-id> itself. A progress bar goes to stderr
when more than one request is sent.

The requests are published to push.requests.<region> through Kafka (the producer
package) and the command returns once Kafka acknowledged all of them. With --gateway
they are posted to the HTTP gateway instead, signed with the AccessKey of the file --key;
a request the gateway throttles (HTTP 429, the app's gateway.rateLimit) is sent again
after the Retry-After the gateway names.`,
		Example: `  pushpipe send --region sg --title 'Flash sale' --content 'Half price until midnight' --target demo-device-1,demo-device-2
  pushpipe send --region sg --title 'Flash sale' --content 'Half price' --targets-file devices.txt --task-id sale-2026-11
  pushpipe send --region sg --template promo --kv name=Ann --kv amount=50 --targets-file users.txt --deliver-type 3
  pushpipe send --region sg --json configs/examples/simple-push.json
  pushpipe send --region sg --json req.json --gateway http://127.0.0.1:18204 --key .pushpipe/gateway-demo-accesskey.json
  pushpipe send --region sg --title Hi --content Hello --target d1 --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSend(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.region, "region", "sg", "region whose push.requests.<region> receives the requests")
	fl.StringVar(&f.appID, "app", "", "app id (default: the first configured app)")
	fl.StringVar(&f.workspace, "workspace", "", "workspace id (default: the app's configured workspace)")
	fl.StringVar(&f.taskName, "task-name", "pushpipe send", "task name (taskName) of the requests")
	fl.StringVar(&f.taskID, "task-id", "", "task id, or prefix of the task ids and msgKeys when split (default: send-<unix ms>)")
	fl.StringVar(&f.title, "title", "", "notification title (SIMPLE)")
	fl.StringVar(&f.content, "content", "", "notification body (SIMPLE)")
	fl.StringVar(&f.template, "template", "", "template name instead of --title/--content (TEMPLATE, or MULTIPLE when split)")
	fl.StringArrayVar(&f.kv, "kv", nil, "template value name=value, repeatable")
	fl.StringSliceVar(&f.targets, "target", nil, "target id (device, user, alias... as --deliver-type says), repeatable or comma-separated")
	fl.StringVar(&f.targetsFile, "targets-file", "", "file with one target id a line (at most 500,000)")
	fl.StringVar(&f.jsonFile, "json", "", "file with a full push request (or an array or lines of them) instead of the content and target flags")
	fl.IntVar(&f.deliverType, "deliver-type", schema.DeliverAndroid, "what a target is: 1 Android device, 2 iOS device, 3 user, 7 HarmonyOS device, 10 alias, 11 user account, 12 tag")
	fl.Int64Var(&f.expiredSeconds, "expired-seconds", producer.DefaultExpiredSeconds, "message validity in seconds (at most 1209600, 14 days)")
	fl.StringVar(&f.output, "output", "text", "summary format: text or json (for scripts)")
	fl.StringVar(&f.gatewayURL, "gateway", "", "post the requests to this HTTP gateway instead of publishing to Kafka")
	fl.StringVar(&f.keyPath, "key", "", "with --gateway: the AccessKey file to sign with ({\"accessKeyId\":...,\"accessKeySecret\":...}, pushpipe gateway keygen --out)")
	f.ep.register(cmd)
	return cmd
}

// sendSummary is what `pushpipe send` reports.
type sendSummary struct {
	Type     schema.PushType `json:"type"`
	Requests int             `json:"requests"`
	Targets  int             `json:"targets"`
	Topic    string          `json:"topic,omitempty"`
	Gateway  string          `json:"gateway,omitempty"`
	TaskIDs  []string        `json:"taskIds"`
	Seconds  float64         `json:"seconds"`
}

func runSend(cmd *cobra.Command, f *sendFlags) error {
	cfg, log, err := loadConfig(cmd)
	if err != nil {
		return err
	}
	if !schema.ValidRegion(f.region) {
		return fail("--region %q: use one of %s", f.region, strings.Join(schema.Regions(), ", "))
	}
	if f.output != "text" && f.output != "json" {
		return fail("--output %q: use text or json", f.output)
	}
	if f.appID == "" {
		f.appID = cfg.Apps[0].AppID
	}
	if f.workspace == "" {
		for _, a := range cfg.Apps {
			if a.AppID == f.appID {
				f.workspace = a.WorkspaceID
			}
		}
	}
	if f.taskID == "" {
		f.taskID = fmt.Sprintf("send-%d", time.Now().UnixMilli())
	}
	var reqs []*schema.Request
	targets := 0
	if f.jsonFile != "" {
		reqs, targets, err = f.readRequests()
	} else {
		reqs, targets, err = f.buildRequests()
	}
	if err != nil {
		return err
	}
	for i, r := range reqs {
		if r.Region == "" {
			r.Region = f.region
		}
		if err := producer.Validate(r); err != nil {
			return fail("request %d of %d (task %s) would be rejected: %v", i+1, len(reqs), r.TaskID, err)
		}
	}
	sum := sendSummary{Type: reqs[0].Type, Requests: len(reqs), Targets: targets}
	start := time.Now()
	progress := func(done int) {
		if len(reqs) > 1 {
			_, _ = fmt.Fprintf(cmd.ErrOrStderr(), "\r%s %d/%d requests (%d%%)", progressBar(done, len(reqs), 30), done, len(reqs), done*100/len(reqs))
		}
	}
	if f.gatewayURL != "" {
		sum.Gateway = f.gatewayURL
		sum.TaskIDs, err = f.sendToGateway(cmd.Context(), reqs, progress)
	} else {
		sum.Topic = pipeline.RequestsTopic(f.region)
		var brokers []string
		var sec pipeline.KafkaSecurity
		if brokers, sec, err = f.ep.kafka(cfg); err != nil {
			return err
		}
		sum.TaskIDs, err = publishRequests(cmd.Context(), producer.Config{Brokers: brokers, Security: sec, Compression: cfg.Kafka.Compression, Region: f.region, Logger: log}, reqs, progress)
	}
	if len(reqs) > 1 {
		_, _ = fmt.Fprintln(cmd.ErrOrStderr())
	}
	if err != nil {
		return err
	}
	sum.Seconds = time.Since(start).Seconds()
	if f.output == "json" {
		return printJSON(cmd, sum)
	}
	out := cmd.OutOrStdout()
	where := sum.Topic
	if sum.Gateway != "" {
		where = "gateway " + sum.Gateway
	}
	_, _ = fmt.Fprintf(out, "sent %d target(s) in %d %s request(s) to %s in %.1fs\n", sum.Targets, sum.Requests, sum.Type, where, sum.Seconds)
	if len(sum.TaskIDs) == 1 {
		_, _ = fmt.Fprintf(out, "task id: %s\n", sum.TaskIDs[0])
	} else {
		_, _ = fmt.Fprintf(out, "task ids: %s … %s\n", sum.TaskIDs[0], sum.TaskIDs[len(sum.TaskIDs)-1])
	}
	_, _ = fmt.Fprintf(out, "follow it: pushpipe task %s --region %s\n", sum.TaskIDs[0], f.region)
	return nil
}

// readRequests reads the full requests of --json.
func (f *sendFlags) readRequests() ([]*schema.Request, int, error) {
	if f.title != "" || f.content != "" || f.template != "" || len(f.targets) > 0 || f.targetsFile != "" {
		return nil, 0, fail("--json takes the whole request: leave out --title, --content, --template, --target and --targets-file")
	}
	in, err := os.Open(f.jsonFile)
	if err != nil {
		return nil, 0, fail("--json: %v", err)
	}
	defer func() { _ = in.Close() }()
	raws, err := readJSONRecords(in)
	if err != nil {
		return nil, 0, fail("--json %s: %v", f.jsonFile, err)
	}
	reqs := make([]*schema.Request, 0, len(raws))
	targets := 0
	for i, raw := range raws {
		r, err := schema.DecodeRequest(raw)
		if err != nil {
			return nil, 0, fail("--json %s, request %d: %v", f.jsonFile, i+1, err)
		}
		targets += max(len(r.TargetMsgkey), len(r.TargetMsgs))
		reqs = append(reqs, r)
	}
	return reqs, targets, nil
}

// buildRequests splits the targets into SIMPLE (or TEMPLATE) requests of
// 10 targets or MULTIPLE requests of 100.
func (f *sendFlags) buildRequests() ([]*schema.Request, int, error) {
	if (f.template == "") == (f.title == "" && f.content == "") {
		return nil, 0, fail("give the content: --title and --content, or --template (with --kv values)")
	}
	kv := schema.StringMap{}
	for _, p := range f.kv {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, 0, fail("--kv %q: use name=value", p)
		}
		kv[k] = v
	}
	targets := f.targets
	if f.targetsFile != "" {
		if len(targets) > 0 {
			return nil, 0, fail("give --target or --targets-file, not both")
		}
		var err error
		if targets, err = readTargets(f.targetsFile, MaxSendTargets); err != nil {
			return nil, 0, fail("%v", err)
		}
	}
	if len(targets) == 0 {
		return nil, 0, fail("no targets: give --target or --targets-file")
	}
	a := producer.App{Region: f.region, AppID: f.appID, WorkspaceID: f.workspace}
	per := schema.MaxSimpleTargets
	if f.template != "" && len(targets) > schema.MaxSimpleTargets {
		per = schema.MaxMultipleTargets
	}
	var reqs []*schema.Request
	for lo := 0; lo < len(targets); lo += per {
		chunk := targets[lo:min(lo+per, len(targets))]
		var r *schema.Request
		switch {
		case f.template == "":
			r = producer.Simple(a, f.taskName, f.deliverType, f.msgKeys(lo, chunk), f.title, f.content)
		case per == schema.MaxMultipleTargets:
			msgs := make([]schema.TargetMsg, len(chunk))
			for i, t := range chunk {
				msgs[i] = schema.TargetMsg{Target: t, MsgKey: f.msgKey(lo + i)}
			}
			r = producer.Multiple(a, f.taskName, f.deliverType, f.template, msgs)
			r.TemplateKeyValue = kv
		default:
			r = producer.Template(a, f.taskName, f.deliverType, f.msgKeys(lo, chunk), f.template, kv)
		}
		r.ExpiredSeconds = f.expiredSeconds
		r.TaskID = f.taskID
		if len(targets) > per {
			r.TaskID = fmt.Sprintf("%s-%05d", f.taskID, lo/per+1)
		}
		reqs = append(reqs, r)
	}
	return reqs, len(targets), nil
}

// msgKey is the msgKey of the n-th target (from 0).
func (f *sendFlags) msgKey(n int) string { return fmt.Sprintf("%s-%07d", f.taskID, n+1) }

// msgKeys maps the targets of a chunk starting at target lo to msgKeys.
func (f *sendFlags) msgKeys(lo int, chunk []string) map[string]string {
	m := make(map[string]string, len(chunk))
	for i, t := range chunk {
		m[t] = f.msgKey(lo + i)
	}
	return m
}

// readTargets reads distinct non-empty target ids, one a line, in file
// order; more than max is an error.
func readTargets(path string, max int) ([]string, error) {
	in, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--targets-file: %w", err)
	}
	defer func() { _ = in.Close() }()
	return scanTargets(in, path, max)
}

func scanTargets(r io.Reader, name string, max int) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || seen[t] {
			continue
		}
		seen[t] = true
		if len(out) == max {
			return nil, fmt.Errorf("%s: line %d: more than %d targets; split the file", name, line, max)
		}
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return out, nil
}

// publishRequests publishes reqs through the producer package in batches,
// reporting progress, and returns their task ids.
func publishRequests(ctx context.Context, cfg producer.Config, reqs []*schema.Request, progress func(done int)) ([]string, error) {
	p, err := producer.New(cfg)
	if err != nil {
		return nil, err
	}
	defer func() { _ = p.Close() }()
	ids := make([]string, 0, len(reqs))
	for lo := 0; lo < len(reqs); lo += sendBatch {
		pubs, err := p.PublishAll(ctx, reqs[lo:min(lo+sendBatch, len(reqs))])
		if err != nil {
			return ids, fmt.Errorf("after %d of %d requests: %w (sending again with the same --task-id is safe)", lo, len(reqs), err)
		}
		for _, pub := range pubs {
			ids = append(ids, pub.TaskID)
		}
		progress(len(ids))
	}
	return ids, nil
}

// sendToGateway posts the requests to the gateway one by one; a request
// the gateway throttles (429, the app's rate limit) is sent again after
// its Retry-After, freshly signed.
func (f *sendFlags) sendToGateway(ctx context.Context, reqs []*schema.Request, progress func(done int)) ([]string, error) {
	if f.keyPath == "" {
		return nil, fail("--gateway needs --key, the AccessKey file to sign with (pushpipe gateway keygen --out makes one)")
	}
	key, err := gateway.ReadAccessKeyFile(f.keyPath)
	if err != nil {
		return nil, fail("--key: %v", err)
	}
	c := &gateway.Client{BaseURL: f.gatewayURL, AccessKey: key}
	ids := make([]string, 0, len(reqs))
	for i, r := range reqs {
		id, err := c.Push(ctx, r)
		var ge *gateway.Error
		for errors.As(err, &ge) && ge.Throttled() {
			select {
			case <-ctx.Done():
				return ids, ctx.Err()
			case <-time.After(max(ge.RetryAfter, time.Second)):
			}
			id, err = c.Push(ctx, r)
		}
		if err != nil {
			return ids, fmt.Errorf("request %d of %d: %w", i+1, len(reqs), err)
		}
		ids = append(ids, id)
		if (i+1)%sendBatch == 0 || i+1 == len(reqs) {
			progress(i + 1)
		}
	}
	return ids, nil
}
