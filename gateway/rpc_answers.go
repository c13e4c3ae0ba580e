package gateway

import (
	"encoding/json"
	"slices"
	"strconv"

	"github.com/pushpipe/pushpipe/schema"
)

// The ResultContent of the RPC query actions, in the shapes of the
// official Go SDK's mpaas response types (ResultContent.Data of
// QueryPushAnalysisCoreIndex, ...): the same names, case included (the
// SDK's JSON decoding is case-sensitive), and the same types. A field
// pushpipe has no value for is left out, never made up.

// rpcContent is a ResultContent holding Data.
type rpcContent struct {
	Data any `json:"Data"`
}

// rpcStats is QueryPushAnalysisCoreIndex's Data.
type rpcStats struct {
	PushTotalNum float64 `json:"PushTotalNum"`
	PushNum      float64 `json:"PushNum"`
	ArrivalNum   float64 `json:"ArrivalNum"`
	ArrivalRate  float64 `json:"ArrivalRate"`
	OpenNum      float64 `json:"OpenNum"`
	OpenRate     float64 `json:"OpenRate"`
	IgnoreNum    float64 `json:"IgnoreNum"`
	IgnoreRate   float64 `json:"IgnoreRate"`
}

func statsContent(_ *call, data any) any {
	st, _ := data.(Stats)
	return rpcContent{Data: rpcStats{PushTotalNum: float64(st.PushTotalNum), PushNum: float64(st.PushNum), ArrivalNum: float64(st.ArrivalNum),
		ArrivalRate: st.ArrivalRate, OpenNum: float64(st.OpenNum), OpenRate: st.OpenRate, IgnoreNum: float64(st.IgnoreNum), IgnoreRate: st.IgnoreRate}}
}

// rpcTaskItem is one task of QueryPushAnalysisTaskList's Data (the SDK's
// DataItem): Type is the push type as the scheduled-task actions number
// it (0 simple, 1 template, 2 multiple, 3 broadcast), GmtCreate the first
// event in Unix ms. pushpipe's templates have names, not ids: TemplateId
// is left out.
type rpcTaskItem struct {
	Type         int64  `json:"Type"`
	TaskID       string `json:"TaskId"`
	TaskName     string `json:"TaskName"`
	TemplateName string `json:"TemplateName,omitempty"`
	GmtCreate    int64  `json:"GmtCreate"`
}

func taskListContent(_ *call, data any) any {
	ts, _ := data.([]Task)
	out := make([]rpcTaskItem, 0, len(ts))
	for _, t := range ts {
		out = append(out, rpcTaskItem{Type: int64(pushTypeNumber(t.PushType)), TaskID: t.TaskID, TaskName: t.TaskName, TemplateName: t.TemplateName, GmtCreate: t.GmtCreate})
	}
	return rpcContent{Data: out}
}

// pushTypeNumber numbers a push type as mPaaS does (0 simple, 1 template,
// 2 multiple, 3 broadcast).
func pushTypeNumber(t string) int {
	return slices.Index(mpaasPushTypes, schema.PushType(t))
}

// rpcTaskDetail is QueryPushAnalysisTaskDetail's Data. The SDK declares
// TaskId a number: it is given when the task id is one, and left out
// otherwise (pushpipe derives ids such as t3f0c…; the caller knows the id
// it asked for).
type rpcTaskDetail struct {
	TaskID         *int64  `json:"TaskId,omitempty"`
	AppID          string  `json:"AppId"`
	PushNum        float64 `json:"PushNum"`
	PushSuccessNum float64 `json:"PushSuccessNum"`
	PushArrivalNum float64 `json:"PushArrivalNum"`
	StartTime      int64   `json:"StartTime"`
	EndTime        int64   `json:"EndTime"`
	Duration       string  `json:"Duration"`
}

// taskDetailContent is QueryPushAnalysisTaskDetail's ResultContent; AppId
// is the app the call named.
func taskDetailContent(c *call, data any) any {
	d, _ := data.(*TaskDetail)
	if d == nil {
		return rpcContent{Data: rpcTaskDetail{}}
	}
	out := rpcTaskDetail{PushNum: float64(d.PushNum), PushSuccessNum: float64(d.PushSuccessNum), PushArrivalNum: float64(d.PushArrivalNum),
		StartTime: d.StartTime, EndTime: d.EndTime, Duration: d.Duration, AppID: c.appID}
	if n, err := strconv.ParseInt(d.TaskID, 10, 64); err == nil {
		out.TaskID = &n
	}
	return rpcContent{Data: out}
}

// rpcSchedule is one occurrence of QueryPushSchedulerList's Data.List.
// ExecutedStatus is "1" executed, "0" not (the SDK declares a string);
// CreateType is 0, created through the API (pushpipe has no console).
type rpcSchedule struct {
	UniqueID       string `json:"UniqueId"`
	ParentID       string `json:"ParentId"`
	PushTime       int64  `json:"PushTime"`
	PushTitle      string `json:"PushTitle"`
	PushContent    string `json:"PushContent"`
	Type           int    `json:"Type"`
	DeliveryType   int    `json:"DeliveryType"`
	StrategyType   int    `json:"StrategyType"`
	ExecutedStatus string `json:"ExecutedStatus"`
	CreateType     int    `json:"CreateType"`
	GmtCreate      int64  `json:"GmtCreate"`
}

// rpcScheduleList is QueryPushSchedulerList's Data.
type rpcScheduleList struct {
	TotalCount int           `json:"TotalCount"`
	List       []rpcSchedule `json:"List"`
}

func scheduleContent(_ *call, data any) any {
	sl, _ := data.(ScheduleList)
	out := rpcScheduleList{TotalCount: sl.TotalCount, List: make([]rpcSchedule, 0, len(sl.List))}
	for _, t := range sl.List {
		out.List = append(out.List, rpcSchedule{UniqueID: t.UniqueID, ParentID: t.ParentID, PushTime: t.PushTime, PushTitle: t.PushTitle,
			PushContent: t.PushContent, Type: pushTypeNumber(string(t.Type)), DeliveryType: t.DeliveryType, StrategyType: t.StrategyType,
			ExecutedStatus: strconv.Itoa(t.ExecutedStatus), GmtCreate: t.GmtCreate})
	}
	return rpcContent{Data: out}
}

// cancelContent is CancelPushScheduler's ResultContent, which the SDK
// declares a string: the JSON object of each id's result (1 cancelled, 0
// not), e.g. {"714613eb":1,"714613ed":0}.
func cancelContent(_ *call, data any) any {
	b, _ := json.Marshal(data)
	return string(b)
}
