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
func ExampleProducer_Publish() {
	p, err := producer.New(producer.Config{Brokers: []string{"kafka-1.internal:9092"}, Region: "sg"})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
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
