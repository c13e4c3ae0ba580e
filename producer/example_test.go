package producer_test

import (
	"context"
	"fmt"
	"log"

	"github.com/pushpipe/pushpipe/producer"
	"github.com/pushpipe/pushpipe/schema"
)

// Build a SIMPLE push to two Android devices and check it as fanout will.
func ExampleSimple() {
	app := producer.App{Region: "sg", AppID: "ONEX570DA89211721", WorkspaceID: "default"}
	req := producer.Simple(app, "flash sale", schema.DeliverAndroid,
		map[string]string{"device-1": "sale-msg-1", "device-2": "sale-msg-2"},
		"Flash sale", "Everything half price until midnight")
	req.ExpiredSeconds = 3600
	req.ExtendedParams = schema.StringMap{"orderId": "42"}
	fmt.Println(producer.Validate(req))

	req.TargetMsgkey = nil
	fmt.Println(producer.Validate(req))
	// Output:
	// <nil>
	// 3021 TOKEN_OR_USERID_NULL: targetMsgkey has no targets
}

// Publish a template push from an upstream service and revoke it again.
// Publish returns once Kafka acknowledged the request.
func ExampleClient_Publish() {
	p, err := producer.New(producer.Config{Brokers: []string{"kafka-1.internal:9092"}, Region: "sg"})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	ctx := context.Background()

	app := producer.App{AppID: "ONEX570DA89211721", WorkspaceID: "default"}
	req := producer.Template(app, "order shipped", schema.DeliverUser,
		map[string]string{"user-1024": "order-42-shipped"},
		"shipped", map[string]string{"order": "42"})
	pub, err := p.Publish(ctx, req)
	if err != nil {
		log.Fatal(err) // a *schema.ValidationError names the mPaaS result code
	}
	fmt.Println("task", pub.TaskID, "on", pub.Topic)

	if err := p.Revoke(ctx, &schema.Control{AppID: app.AppID, MsgID: "order-42-shipped"}, 0); err != nil {
		log.Fatal(err)
	}
}

// Tag two users and remove a tag again, then broadcast to the users
// carrying either tag. Each call returns once Kafka acknowledged the
// record. The registry stores tags on its own schedule and fanout reads
// the tags stored when it streams the audience, so publish tags ahead of
// the pushes that need them (the gateway's /v1/tags/list shows what is
// stored).
func ExampleClient_AddTags() {
	p, err := producer.New(producer.Config{Brokers: []string{"kafka-1.internal:9092"}, Region: "sg"})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	ctx := context.Background()
	app := producer.App{AppID: "ONEX570DA89211721", WorkspaceID: "default"}

	for _, user := range []string{"user-1024", "user-2048"} {
		if err := p.AddTags(ctx, app, user, "vip", "gold"); err != nil {
			log.Fatal(err) // a *schema.ValidationError: 3012 without a user, 3028 for a bad tag
		}
	}
	if err := p.RemoveTags(ctx, app, "user-2048", "gold"); err != nil {
		log.Fatal(err)
	}

	req := producer.Broadcast(app, "vip sale", schema.DeliverAndroid, "vip-sale-1", "sale", map[string]string{"pct": "30"})
	req.Tags = []string{"vip", "gold"}
	if _, err := p.Publish(ctx, req); err != nil {
		log.Fatal(err)
	}
}

// Check tag records and a broadcast's tags before publishing them.
func ExampleTagAdd() {
	app := producer.App{Region: "sg", AppID: "ONEX570DA89211721", WorkspaceID: "default"}
	fmt.Println(producer.ValidateBinding(producer.TagAdd(app, "user-1024", "vip", "gold")))
	fmt.Println(producer.ValidateBinding(producer.TagAdd(app, "user-1024", "vip", "vip")))

	req := producer.Broadcast(app, "vip sale", schema.DeliverAndroid, "vip-sale-1", "sale", nil)
	req.Tags = []string{"vip"}
	req.PushStatus = new(int)
	*req.PushStatus = schema.PushStatusUnbound
	req.UnBindPeriod = 1
	fmt.Println(producer.Validate(req))
	// Output:
	// <nil>
	// 3028 INVALID_PARAM: tags[1] repeats tag "vip" of tags[0]; name each tag once
	// 3028 INVALID_PARAM: tags with pushStatus 2 (unbound users) can never match: tags belong to users, and an unbound device has no user; use pushStatus 0 (bound users) or 1 (all)
}
