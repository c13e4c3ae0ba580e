package registry_test

import (
	"strings"
	"testing"

	"github.com/pushpipe/pushpipe/channels/registry"
	"github.com/pushpipe/pushpipe/schema"
)

func TestContentLimitCheck(t *testing.T) {
	for _, tc := range []struct {
		scenario, channel, title, body string
		payloadBytes                   int
		wantCode                       schema.ResultCode
	}{
		{"MiPush title over 50 characters", "mipush", strings.Repeat("标", 51), "b", 10, schema.CodeSinglePushContentTooLong},
		{"Huawei message over 2 KB", "hms", "t", "b", 2049, schema.CodeMsgPayloadTooLong},
		{"HarmonyOS has no title length of its own", "harmonyos", strings.Repeat("标", 500), "b", 1600, 0},
		{"HarmonyOS body at 4096 bytes", "harmonyos", "t", "b", 4096, 0},
		{"HarmonyOS body over 4096 bytes", "harmonyos", "t", "b", 4097, schema.CodeMsgPayloadTooLong},
		{"HarmonyOS refuses an empty title", "harmonyos", "", "b", 1, schema.CodePayloadNotEnough},
		{"the self-built channel takes an empty title", "self", "", "b", 1, 0},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			code, why := registry.ContentLimit(tc.channel).Check(tc.channel, tc.title, tc.body, tc.payloadBytes)
			if code != tc.wantCode || (code != 0) != (why != "") {
				t.Errorf("Check = %d %q, want %d", code, why, tc.wantCode)
			}
		})
	}
}
