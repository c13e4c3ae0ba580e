package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/pushpipe/pushpipe/gateway"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/producer"
	"github.com/pushpipe/pushpipe/schema"
)

// revokeResult is what `pushpipe revoke --json` prints.
type revokeResult struct {
	ControlKey string `json:"controlKey"`
	Topic      string `json:"topic"`
	AppID      string `json:"appId"`
	// AcceptedAt is when the revoked push was accepted (Unix ms), 0 when
	// none of its events is stored yet.
	AcceptedAt int64 `json:"acceptedAt"`
}

func newRevokeCmd() *cobra.Command {
	var f chFlags
	var msgID, target, taskID, reason string
	cmd := &cobra.Command{
		Use:   "revoke",
		Short: "Revoke a message (--msg-id, SIMPLE and TEMPLATE pushes) or a task (--task-id, MULTIPLE and BROADCAST) of the last 7 days",
		Long: `Revoke a push (mPaaS message revocation): --msg-id names the msgKey of a message of a
SIMPLE or TEMPLATE push (--target narrows it to one target: device or user id), --task-id
a MULTIPLE or BROADCAST task. The revoke is written to the compacted topic
push.control.<region>; deliveries not yet sent end as revoked, those already sent are
recalled where the vendor can. Only pushes accepted within the last 7 days can be revoked:
their accepted time is looked up in the region's ClickHouse events (a push with no stored
event yet is revoked as well). Revoking twice changes nothing.`,
		Example: `  pushpipe revoke --region sg --msg-id demo-msg-1
  pushpipe revoke --region sg --msg-id demo-msg-1 --target demo-device-1
  pushpipe revoke --region sg --task-id send-1763856000000-00001 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (msgID == "") == (taskID == "") {
				return fail("give exactly one of --msg-id and --task-id")
			}
			if target != "" && msgID == "" {
				return fail("--target narrows a --msg-id revoke; a task is revoked whole")
			}
			conn, db, done, err := f.connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			cfg, log, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			acceptedAt, err := gateway.LookupAcceptedAt(ctx, conn, db, f.appID, msgID, taskID)
			if err != nil {
				return err
			}
			brokers, sec, err := f.ep.kafka(cfg)
			if err != nil {
				return err
			}
			p, err := producer.New(producer.Config{Brokers: brokers, Security: sec, Compression: cfg.Kafka.Compression, Region: f.region, Logger: log})
			if err != nil {
				return err
			}
			defer func() { _ = p.Close() }()
			c := &schema.Control{AppID: f.appID, MsgID: msgID, Target: target, TaskID: taskID, Reason: reason}
			if err := p.Revoke(ctx, c, acceptedAt); err != nil {
				return fail("%v", err)
			}
			res := revokeResult{ControlKey: c.ControlKey(), Topic: pipeline.ControlTopic(f.region), AppID: f.appID, AcceptedAt: acceptedAt}
			if f.asJSON {
				return printJSON(cmd, res)
			}
			when := "not stored yet"
			if acceptedAt > 0 {
				when = "accepted " + time.UnixMilli(acceptedAt).UTC().Format(time.DateTime) + " UTC"
			}
			_, _ = fmt.Fprintf(cmd.OutOrStdout(), "revoked %s of app %s (%s) on %s\n", res.ControlKey, res.AppID, when, res.Topic)
			return nil
		},
	}
	cmd.Flags().StringVar(&msgID, "msg-id", "", "msgKey of the message to revoke (SIMPLE, TEMPLATE)")
	cmd.Flags().StringVar(&target, "target", "", "with --msg-id: only this target (device or user id)")
	cmd.Flags().StringVar(&taskID, "task-id", "", "task id to revoke (MULTIPLE, BROADCAST)")
	cmd.Flags().StringVar(&reason, "reason", "", "why, shown on the revoked events")
	f.register(cmd)
	return cmd
}
