// Command aliyun-sdk pushes through pushpipe's gateway with the official
// Alibaba Cloud Go SDK for mPaaS (github.com/aliyun/alibaba-cloud-sdk-go/
// services/mpaas), written as against mPaaS itself: only the endpoint
// (client.Domain), the region and the AccessKey differ. It sends a
// PushSimple to demo-device-1 and reads the task's figures back with
// QueryPushAnalysisTaskDetail once the pipeline delivered it.
//
// Against `make run` (the banner prints the AccessKey and the line to run):
//
//	MPAAS_AK_ENV=PPAK... MPAAS_SK_ENV=... PUSHPIPE_GATEWAY=127.0.0.1:18204 PUSHPIPE_REGION=sg go run ./configs/examples/aliyun-sdk
//
// PUSHPIPE_APP_ID and PUSHPIPE_WORKSPACE_ID name another app (default the
// demo app ONEX570DA89211721 in workspace default).
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/mpaas"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "aliyun-sdk:", err)
		os.Exit(1)
	}
}

func run() error {
	accessKeyID, accessKeySecret := os.Getenv("MPAAS_AK_ENV"), os.Getenv("MPAAS_SK_ENV")
	if accessKeyID == "" || accessKeySecret == "" {
		return errors.New("set MPAAS_AK_ENV and MPAAS_SK_ENV to an AccessKey of the gateway (`make run` prints its demo AccessKey)")
	}
	appID, workspaceID := env("PUSHPIPE_APP_ID", "ONEX570DA89211721"), env("PUSHPIPE_WORKSPACE_ID", "default")

	// mPaaS: NewClientWithAccessKey("cn-hangzhou", ...) and the endpoint
	// mpaas.cn-hangzhou.aliyuncs.com. pushpipe: the gateway's region and
	// address (plain HTTP on loopback; behind TLS set request.Scheme = "HTTPS").
	client, err := mpaas.NewClientWithAccessKey(env("PUSHPIPE_REGION", "sg"), accessKeyID, accessKeySecret)
	if err != nil {
		return err
	}
	client.Domain = env("PUSHPIPE_GATEWAY", "127.0.0.1:18204")

	push := mpaas.CreatePushSimpleRequest()
	push.AppId, push.WorkspaceId = appID, workspaceID
	push.TaskName = "Alibaba Cloud SDK example"
	push.Title = "Hello from the Alibaba Cloud SDK"
	push.Content = "Sent through pushpipe's gateway"
	push.DeliveryType = requests.NewInteger(1) // the targets are Android device ids
	target, _ := json.Marshal(map[string]string{"demo-device-1": fmt.Sprintf("sdk-example-%d", time.Now().UnixMilli())})
	push.TargetMsgkey = string(target)
	push.ExpiredSeconds = requests.NewInteger(300)
	push.ExtendedParams = `{"from":"aliyun-sdk example"}`
	res, err := client.PushSimple(push)
	var serverErr *sdkerrors.ServerError
	if errors.As(err, &serverErr) { // refused before the action: signature, timestamp, ...
		return fmt.Errorf("the gateway refused the call: %s: %s", serverErr.ErrorCode(), serverErr.Message())
	}
	if err != nil {
		return err
	}
	if res.ResultCode != "OK" { // refused by mPaaS's rules: TASKNAME_NULL, ...
		return fmt.Errorf("PushSimple: %s: %s", res.ResultCode, res.ResultMessage)
	}
	taskID := res.PushResult.Data
	fmt.Printf("PushSimple: %s, task %s (request %s)\n", res.ResultCode, taskID, res.RequestId)

	detail := mpaas.CreateQueryPushAnalysisTaskDetailRequest()
	detail.AppId, detail.WorkspaceId, detail.TaskId = appID, workspaceID, taskID
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Second) {
		d, err := client.QueryPushAnalysisTaskDetail(detail)
		if err != nil {
			return err
		}
		data := d.ResultContent.Data
		if d.ResultCode == "OK" && data.PushSuccessNum >= 1 {
			fmt.Printf("QueryPushAnalysisTaskDetail: pushed %.0f, successfully %.0f, arrived %.0f, in %s\n",
				data.PushNum, data.PushSuccessNum, data.PushArrivalNum, data.Duration)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("task %s not delivered within 30s: %s %s %+v", taskID, d.ResultCode, d.ResultMessage, data)
		}
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
