package schema

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func validTemplate() *Request {
	r := validSimple()
	r.Type, r.Title, r.Content = PushTemplate, "", ""
	r.TemplateName, r.TemplateKeyValue = "promo", StringMap{"name": "Ann"}
	return r
}

func validMultiple() *Request {
	r := validTemplate()
	r.Type, r.TargetMsgkey = PushMultiple, nil
	r.TargetMsgs = []TargetMsg{{Target: "d1", MsgKey: "m1", TemplateKeyValue: StringMap{"name": "A"}}, {Target: "d2", MsgKey: "m2"}}
	return r
}

func validBroadcast() *Request {
	r := validTemplate()
	r.Type, r.TargetMsgkey, r.MsgKey = PushBroadcast, nil, "bc-1"
	return r
}

func intp(i int) *int { return &i }

func TestValidatePushTypes(t *testing.T) {
	many := func(n int) []TargetMsg {
		out := make([]TargetMsg, n)
		for i := range out {
			out[i] = TargetMsg{Target: fmt.Sprintf("d%d", i), MsgKey: fmt.Sprintf("m%d", i)}
		}
		return out
	}
	inner := StringMap{}
	for i := 0; i < 11; i++ {
		inner[fmt.Sprintf("k%d", i)] = "v"
	}
	for _, tc := range []struct {
		scenario string
		base     func() *Request
		mutate   func(r *Request)
		code     ResultCode // 0: valid
		message  string     // part of the message the user sees
	}{
		{"template: valid", validTemplate, func(r *Request) {}, 0, ""},
		{"template: no template name", validTemplate, func(r *Request) { r.TemplateName = "" }, CodeNeedTemplate, "templateName is empty"},
		{"template: comma in name", validTemplate, func(r *Request) { r.TemplateName = "a,b" }, CodeTemplateNameInvalid, "contains a comma"},
		{"template: no targets", validTemplate, func(r *Request) { r.TargetMsgkey = nil }, CodeTokenOrUserIDNull, "no targets"},
		{"template: eleven targets", validTemplate, func(r *Request) {
			r.TargetMsgkey = StringMap{}
			for i := 0; i < 11; i++ {
				r.TargetMsgkey[fmt.Sprint(i)] = "k"
			}
		}, CodeSinglePushTargetTooMuch, "at most 10"},
		{"alias target is a valid deliverType", validSimple, func(r *Request) { r.DeliverType = DeliverAlias }, 0, ""},
		{"tag target is a valid deliverType", validSimple, func(r *Request) { r.DeliverType = DeliverTag }, 0, ""},
		{"multiple: valid", validMultiple, func(r *Request) {}, 0, ""},
		{"multiple: 100 targets allowed", validMultiple, func(r *Request) { r.TargetMsgs = many(100) }, 0, ""},
		{"multiple: 101 targets", validMultiple, func(r *Request) { r.TargetMsgs = many(101) }, CodeMultipleTargetTooMuch, "at most 100"},
		{"multiple: none", validMultiple, func(r *Request) { r.TargetMsgs = nil }, CodeTokenOrUserIDNull, "no targets"},
		{"multiple: empty target", validMultiple, func(r *Request) { r.TargetMsgs[1].Target = "" }, CodeTokenOrUserIDNull, "targetMsgs[1] has an empty target"},
		{"multiple: repeated msgKey", validMultiple, func(r *Request) { r.TargetMsgs[1].MsgKey = "m1" }, CodeInvalidParam, "repeats msgKey"},
		{"multiple: 11 inner extended params", validMultiple, func(r *Request) { r.TargetMsgs[0].ExtendedParams = inner }, CodeMultipleInnerExtendTooMuch, "at most 10"},
		{"multiple: reserved inner key", validMultiple, func(r *Request) { r.TargetMsgs[0].ExtendedParams = StringMap{"channel": "x"} }, CodeInvalidExtendParam, "reserved"},
		{"multiple: no template", validMultiple, func(r *Request) { r.TemplateName = "" }, CodeNeedTemplate, "templateName"},
		{"broadcast: valid", validBroadcast, func(r *Request) {}, 0, ""},
		{"broadcast: by user", validBroadcast, func(r *Request) { r.DeliverType = DeliverUser }, CodeBroadcastOnlyByDevice, "only 1 (Android)"},
		{"broadcast: no msgkey", validBroadcast, func(r *Request) { r.MsgKey = "" }, CodeInvalidParam, "msgkey is empty"},
		{"broadcast: all users need unBindPeriod", validBroadcast, func(r *Request) { r.PushStatus = intp(1) }, CodeBroadcastNeedUnbindPeriod, "unBindPeriod is required"},
		{"broadcast: unbound users need unBindPeriod", validBroadcast, func(r *Request) { r.PushStatus = intp(2) }, CodeBroadcastNeedUnbindPeriod, "unBindPeriod is required"},
		{"broadcast: bad unBindPeriod", validBroadcast, func(r *Request) { r.PushStatus, r.UnBindPeriod = intp(2), 9 }, CodeBroadcastUnbindPeriodInvalid, "unBindPeriod 9"},
		{"broadcast: all users on self-built channel", validBroadcast, func(r *Request) { r.PushStatus, r.UnBindPeriod, r.AndroidChannel = intp(1), 1, 1 }, CodeBroadcastNoSelfChannel, "self-built channel"},
		{"broadcast: bad androidChannel", validBroadcast, func(r *Request) { r.AndroidChannel = 5 }, CodeAndroidChannelInvalid, "androidChannel 5"},
		{"broadcast: bad bind range", validBroadcast, func(r *Request) { r.TimeMode, r.BindStartTime, r.BindEndTime = 1, 10, 5 }, CodeBroadcastTimeRangeInvalid, "bindStartTime < bindEndTime"},
		{"broadcast: bad unbind range", validBroadcast, func(r *Request) { r.TimeMode, r.PushStatus = 1, intp(2) }, CodeBroadcastTimeRangeInvalid, "unBindStartTime < unBindEndTime"},
		{"broadcast: good range", validBroadcast, func(r *Request) { r.TimeMode, r.BindStartTime, r.BindEndTime = 1, 5, 10 }, 0, ""},
		{"broadcast: bad pushStatus", validBroadcast, func(r *Request) { r.PushStatus = intp(7) }, CodeInvalidParam, "pushStatus 7"},
		{"broadcast: bad timeMode", validBroadcast, func(r *Request) { r.TimeMode = 3 }, CodeInvalidParam, "timeMode 3"},
		{"tags: broadcast without tags", validBroadcast, func(r *Request) {}, 0, ""},
		{"tags: broadcast with two tags", validBroadcast, func(r *Request) { r.Tags = []string{"vip", "gold"} }, 0, ""},
		{"tags: broadcast with 100 tags", validBroadcast, func(r *Request) { r.Tags = manyTags(MaxTags) }, 0, ""},
		{"tags: 30-character tag", validBroadcast, func(r *Request) { r.Tags = []string{strings.Repeat("界", MaxTagChars)} }, 0, ""},
		{"tags: tags to all users (bound ones can match)", validBroadcast, func(r *Request) { r.Tags, r.PushStatus, r.UnBindPeriod = []string{"vip"}, intp(1), 1 }, 0, ""},
		{"tags: tags to bound users explicitly", validBroadcast, func(r *Request) { r.Tags, r.PushStatus = []string{"vip"}, intp(0) }, 0, ""},
		{"tags: empty list", validBroadcast, func(r *Request) { r.Tags = []string{} }, CodeInvalidParam, "tags is an empty list: leave tags out"},
		{"tags: empty tag", validBroadcast, func(r *Request) { r.Tags = []string{"vip", ""} }, CodeInvalidParam, "tags[1] is an empty tag"},
		{"tags: duplicate tag", validBroadcast, func(r *Request) { r.Tags = []string{"vip", "gold", "vip"} }, CodeInvalidParam, `tags[2] repeats tag "vip" of tags[0]`},
		{"tags: 101 tags", validBroadcast, func(r *Request) { r.Tags = manyTags(MaxTags + 1) }, CodeInvalidParam, "names 101 tags, at most 100"},
		{"tags: 31-character tag", validBroadcast, func(r *Request) { r.Tags = []string{strings.Repeat("x", MaxTagChars+1)} }, CodeInvalidParam, "has 31 characters, at most 30"},
		{"tags: tags to unbound users", validBroadcast, func(r *Request) { r.Tags, r.PushStatus, r.UnBindPeriod = []string{"vip"}, intp(2), 1 }, CodeInvalidParam, "pushStatus 2 (unbound users) can never match: tags belong to users"},
		{"tags: tags on SIMPLE", validSimple, func(r *Request) { r.Tags = []string{"vip"} }, CodeInvalidParam, "tags filters BROADCAST pushes only; a SIMPLE push"},
		{"tags: tags on TEMPLATE", validTemplate, func(r *Request) { r.Tags = []string{"vip"} }, CodeInvalidParam, "tags filters BROADCAST pushes only; a TEMPLATE push"},
		{"tags: tags on MULTIPLE", validMultiple, func(r *Request) { r.Tags = []string{"vip"} }, CodeInvalidParam, "tags filters BROADCAST pushes only; a MULTIPLE push"},
		{"tags: empty tags list on SIMPLE", validSimple, func(r *Request) { r.Tags = []string{} }, CodeInvalidParam, "tags filters BROADCAST pushes only"},
		{"smooth push rate", validBroadcast, func(r *Request) { r.SmoothRate = 3000 }, 0, ""},
		{"negative smooth push rate", validSimple, func(r *Request) { r.SmoothRate = -1 }, CodeInvalidParam, "smoothRate -1"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			r := tc.base()
			tc.mutate(r)
			err := r.Validate()
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Code != tc.code {
				t.Fatalf("got %v, want code %d", err, tc.code)
			}
			if !strings.Contains(err.Error(), tc.message) || !strings.Contains(err.Error(), tc.code.Name()) {
				t.Fatalf("message %q lacks %q or the code name %s", err, tc.message, tc.code.Name())
			}
		})
	}
}
