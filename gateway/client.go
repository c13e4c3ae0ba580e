package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/schema"
)

// Client calls the /v1 routes of a gateway with requests signed by an
// AccessKey (see SignJSONRequest). It is safe for concurrent use once its
// fields are set.
type Client struct {
	// BaseURL is the gateway's address, e.g. http://127.0.0.1:18200.
	BaseURL string
	// AccessKey signs every request; it acts on the apps the gateway
	// lists it under (gateway.appKeys[].accessKeys).
	AccessKey AccessKey
	// HTTP is the client used; nil means one with a 60 s timeout.
	HTTP *http.Client
	// Now is the clock of the signed timestamps; nil means time.Now.
	Now func() time.Time
}

// Error is a refusal the gateway answered in its Response shape: the
// HTTP status and the mPaaS result code with its name and message.
// RetryAfter is the wait the gateway asked for with Retry-After (a 429
// of the app's rate limit), else 0.
type Error struct {
	Status     int
	Code       schema.ResultCode
	Name       string
	Message    string
	RequestID  string
	RetryAfter time.Duration
}

// Throttled reports whether the gateway refused the call because the
// app's rate limit was spent (HTTP 429): send it again after RetryAfter.
func (e *Error) Throttled() bool { return e.Status == http.StatusTooManyRequests }

// Error formats as "3019 TASKNAME_NULL: taskName is empty (HTTP 400,
// request B589F4F4-...)".
func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s (HTTP %d, request %s)", int(e.Code), e.Name, e.Message, e.Status, e.RequestID)
}

// Call signs and posts body (any JSON value; []byte and json.RawMessage
// are sent as they are) to path and returns the gateway's Response. When
// the gateway refused the request the Response is returned with an
// *Error (errors.As); a transport failure or an answer that is not a
// gateway Response is an error without a Response.
func (c *Client) Call(ctx context.Context, path string, body any) (*Response, error) {
	var b []byte
	switch v := body.(type) {
	case []byte:
		b = v
	case json.RawMessage:
		b = v
	default:
		var err error
		if b, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("encoding the body for %s: %w", path, err)
		}
	}
	u := strings.TrimRight(c.BaseURL, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("building request to %s: %w", u, err)
	}
	req.Header.Set("Content-Type", "application/json")
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	SignJSONRequest(req, c.AccessKey, b, now())
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: time.Minute}
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("posting to %s: %w", u, err)
	}
	defer func() { _ = res.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s: %w", u, err)
	}
	var resp Response
	if err := json.Unmarshal(raw, &resp); err != nil || resp.ResultCode == "" {
		return nil, fmt.Errorf("posting to %s: HTTP %d with an answer that is not a gateway response: %.200q", u, res.StatusCode, raw)
	}
	if resp.ResultCode != ResultOK {
		ge := &Error{Status: res.StatusCode, Code: schema.ResultCode(resp.Code), Name: resp.ResultCode,
			Message: resp.ResultMessage, RequestID: resp.RequestID}
		if secs, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && secs > 0 {
			ge.RetryAfter = time.Duration(secs) * time.Second
		}
		return &resp, ge
	}
	return &resp, nil
}

// Query calls a query route and decodes ResultContent.Data into out.
func (c *Client) Query(ctx context.Context, path string, body, out any) error {
	resp, err := c.Call(ctx, path, body)
	if err != nil {
		return err
	}
	if resp.ResultContent == nil {
		return fmt.Errorf("the answer of %s carries no ResultContent", path)
	}
	if err := json.Unmarshal(resp.ResultContent.Data, out); err != nil {
		return fmt.Errorf("decoding the answer of %s: %w", path, err)
	}
	return nil
}

// PushPath returns the route of a push type: /v1/push/simple, ...
func PushPath(t schema.PushType) string { return "/v1/push/" + strings.ToLower(string(t)) }

// Push sends a push request to the route of its type and returns the
// task id the gateway answered (the schedule id of a scheduled or loop
// push). The request is sent as it is: the gateway fills region, task id
// and acceptedAt.
func (c *Client) Push(ctx context.Context, req *schema.Request) (string, error) {
	if req.Type == "" {
		return "", errors.New("the request has no type: set SIMPLE, TEMPLATE, MULTIPLE or BROADCAST")
	}
	resp, err := c.Call(ctx, PushPath(req.Type), req)
	if err != nil {
		return "", err
	}
	if resp.PushResult == nil {
		return "", fmt.Errorf("the answer of %s carries no PushResult", PushPath(req.Type))
	}
	return resp.PushResult.Data, nil
}
