package vendorsim

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

// Defaults of ReceiptsConfig applied to zero fields.
const (
	DefaultReceiptDelay         = 100 * time.Millisecond
	DefaultReceiptMaxBatch      = 100
	DefaultReceiptFlushInterval = 50 * time.Millisecond
	DefaultReceiptQueueSize     = 100_000
	DefaultReceiptMaxAttempts   = 4
	DefaultReceiptRetryBackoff  = 100 * time.Millisecond
	DefaultReceiptPostTimeout   = 5 * time.Second
	DefaultReceiptCloseTimeout  = 3 * time.Second
	DefaultReceiptWorkers       = 4
	// MaxReceiptBatch is the largest MaxBatch: the receipts worker takes
	// at most 500 client events in one request.
	MaxReceiptBatch = 500
	// maxReceiptBackoff caps the doubling retry backoff.
	maxReceiptBackoff = 5 * time.Second
)

// DeliveryIDKey is the key under which pushpipe's APNs payload (top
// level, next to "aps") and FCM message data carry the delivery id; the
// app SDK on the device reports arrivals, opens and ignores with it.
const DeliveryIDKey = "deliveryId"

// ClientEndpoint is the receipt endpoint of the app SDK
// (<base>/receipts/client), used for APNs, FCM and self-built channel
// arrivals and for every open and ignore.
const ClientEndpoint = "client"

// ReceiptsConfig makes the simulator post delivery receipts and app events
// for the messages it accepts, as the vendors and the app SDK on the
// device would. It is off unless URLs names a region.
//
// For every accepted (correlation value, token) pair the simulator decides
// deterministically (see Fate) whether the message arrives, and whether an
// arrival is opened or ignored. After Delay it posts: arrivals of Huawei,
// Honor, HarmonyOS, MiPush, OPPO and vivo to <URL>/receipts/<vendor> in
// that vendor's receipt format (§7.2.10), carrying the correlation value
// the call carried; arrivals of APNs, FCM and the self-built channel, and every
// open and ignore, to <URL>/receipts/client as app SDK events. A token
// accepted without a correlation value (no biTag, callback parameter or
// deliveryId in the call) gets nothing: the receipt could not be tied to a
// delivery.
//
// Each POST names its app and proves its origin as the vendor or the app
// SDK would (see workers/receipts): ?app=<appId> on the region's URL (or
// the receipt address the call carried, for MiPush, OPPO and vivo, which
// already names the app); Huawei and HarmonyOS sign with the
// X-HUAWEI-CALLBACK-ID header of the app's Credentials, Honor adds the
// app's token to the query, the app SDK signs the body with its client
// key; MiPush, OPPO and vivo echo the tagged callback parameter of the
// call as it came.
type ReceiptsConfig struct {
	// URLs maps a region to the base URL of that region's receipts worker
	// (e.g. http://127.0.0.1:18100). Messages accepted on a region's
	// endpoints get receipts only when the region has a URL.
	URLs map[string]string `json:"urls" yaml:"urls"`
	// ArrivalRate is the fraction of accepted tokens that arrive, 0..1.
	// Zero (the default) means none.
	ArrivalRate float64 `json:"arrivalRate" yaml:"arrivalRate"`
	// OpenRate is the fraction of arrivals that are opened, 0..1.
	OpenRate float64 `json:"openRate" yaml:"openRate"`
	// OpenRatesByTitle override OpenRate for the messages whose title
	// contains a rule's text, the first matching rule winning, so that
	// copies can be told apart (an A/B test's variants). Only vendors
	// whose simulator knows the title of what it accepted apply them
	// (MiPush, its form's title); the others use OpenRate.
	OpenRatesByTitle []TitleOpenRate `json:"openRatesByTitle,omitempty" yaml:"openRatesByTitle"`
	// IgnoreRate is the fraction of the arrivals not opened that are
	// ignored (dismissed), 0..1.
	IgnoreRate float64 `json:"ignoreRate" yaml:"ignoreRate"`
	// Delay is the time between the acceptance of a message and its
	// receipts; default DefaultReceiptDelay.
	Delay Duration `json:"delay" yaml:"delay"`
	// MaxBatch is the most receipts (tokens) in one POST, 1..MaxReceiptBatch;
	// default DefaultReceiptMaxBatch.
	MaxBatch int `json:"maxBatch" yaml:"maxBatch"`
	// FlushInterval is how long due receipts wait for more of the same
	// endpoint, vendor, region and app before a POST that is not full;
	// default DefaultReceiptFlushInterval.
	FlushInterval Duration `json:"flushInterval" yaml:"flushInterval"`
	// QueueSize bounds the receipts waiting to be posted; receipts over it
	// are dropped and counted. Default DefaultReceiptQueueSize.
	QueueSize int `json:"queueSize" yaml:"queueSize"`
	// MaxAttempts is how often one POST is tried when it fails with a
	// connection error, a timeout or a 5xx answer (a 4xx answer is never
	// retried); default DefaultReceiptMaxAttempts.
	MaxAttempts int `json:"maxAttempts" yaml:"maxAttempts"`
	// RetryBackoff is the wait before the first retry, doubled for each
	// further one (at most 5s); default DefaultReceiptRetryBackoff.
	RetryBackoff Duration `json:"retryBackoff" yaml:"retryBackoff"`
	// PostTimeout bounds one POST attempt; default
	// DefaultReceiptPostTimeout.
	PostTimeout Duration `json:"postTimeout" yaml:"postTimeout"`
	// CloseTimeout bounds how long Close spends posting what is still
	// queued; default DefaultReceiptCloseTimeout.
	CloseTimeout Duration `json:"closeTimeout" yaml:"closeTimeout"`
	// Workers is how many POSTs run at once; default
	// DefaultReceiptWorkers.
	Workers int `json:"workers" yaml:"workers"`
	// Credentials are the receipt credentials of each pushpipe app id,
	// as configured at the vendors and in the app SDK. An app without
	// them posts unsigned receipts, which an authenticating receipts
	// worker refuses (counted as failed).
	Credentials map[string]ReceiptCredentials `json:"credentials" yaml:"credentials"`
}

// ReceiptCredentials are what the simulator signs one app's receipts
// with: the callback user name and key of its Huawei Push Kit and
// HarmonyOS Push Kit receipt configurations, the token of its Honor
// receipt address, and the app SDK's client key.
type ReceiptCredentials struct {
	HMSUser       string          `json:"hmsUser" yaml:"hmsUser"`
	HMSKey        channels.Secret `json:"hmsKey" yaml:"hmsKey"`
	HarmonyOSUser string          `json:"harmonyosUser" yaml:"harmonyosUser"`
	HarmonyOSKey  channels.Secret `json:"harmonyosKey" yaml:"harmonyosKey"`
	HonorToken    channels.Secret `json:"honorToken" yaml:"honorToken"`
	ClientKey     channels.Secret `json:"clientKey" yaml:"clientKey"`
}

func (c ReceiptsConfig) withDefaults() ReceiptsConfig {
	if c.URLs != nil {
		urls := make(map[string]string, len(c.URLs))
		for r, u := range c.URLs {
			urls[r] = strings.TrimRight(u, "/")
		}
		c.URLs = urls
	}
	setDuration := func(d *Duration, def time.Duration) {
		if *d == 0 {
			*d = Duration(def)
		}
	}
	setInt := func(n *int, def int) {
		if *n == 0 {
			*n = def
		}
	}
	setDuration(&c.Delay, DefaultReceiptDelay)
	setDuration(&c.FlushInterval, DefaultReceiptFlushInterval)
	setDuration(&c.RetryBackoff, DefaultReceiptRetryBackoff)
	setDuration(&c.PostTimeout, DefaultReceiptPostTimeout)
	setDuration(&c.CloseTimeout, DefaultReceiptCloseTimeout)
	setInt(&c.MaxBatch, DefaultReceiptMaxBatch)
	setInt(&c.QueueSize, DefaultReceiptQueueSize)
	setInt(&c.MaxAttempts, DefaultReceiptMaxAttempts)
	setInt(&c.Workers, DefaultReceiptWorkers)
	return c
}

func (c ReceiptsConfig) validate() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("vendorsim config: receipts: "+format, args...))
	}
	for _, r := range slices.Sorted(maps.Keys(c.URLs)) {
		if !slices.Contains(Regions(), r) {
			bad("urls: unknown region %q, use one of %v", r, Regions())
			continue
		}
		u, err := url.Parse(c.URLs[r])
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("urls: %s: %q is not an http(s) base URL such as http://127.0.0.1:18100", r, c.URLs[r])
		}
	}
	rates := []struct {
		name string
		v    float64
	}{{"arrivalRate", c.ArrivalRate}, {"openRate", c.OpenRate}, {"ignoreRate", c.IgnoreRate}}
	for i, r := range c.OpenRatesByTitle {
		if r.TitleContains == "" {
			bad("openRatesByTitle[%d]: titleContains is empty: name the text of the titles it applies to", i)
		}
		rates = append(rates, struct {
			name string
			v    float64
		}{fmt.Sprintf("openRatesByTitle[%d].openRate", i), r.OpenRate})
	}
	for _, f := range rates {
		if !(f.v >= 0 && f.v <= 1) {
			bad("%s must be a fraction within 0..1, got %g", f.name, f.v)
		}
	}
	for _, d := range []struct {
		name string
		v    Duration
	}{{"delay", c.Delay}, {"flushInterval", c.FlushInterval}, {"retryBackoff", c.RetryBackoff},
		{"postTimeout", c.PostTimeout}, {"closeTimeout", c.CloseTimeout}} {
		if d.v < 0 {
			bad("%s must not be negative, got %s", d.name, time.Duration(d.v))
		}
	}
	if c.MaxBatch < 1 || c.MaxBatch > MaxReceiptBatch {
		bad("maxBatch must be within 1..%d (the receipts worker takes at most %d client events a request), got %d", MaxReceiptBatch, MaxReceiptBatch, c.MaxBatch)
	}
	if c.QueueSize < 1 {
		bad("queueSize must be positive, got %d", c.QueueSize)
	}
	if c.MaxAttempts < 1 {
		bad("maxAttempts must be at least 1 (no retries), got %d", c.MaxAttempts)
	}
	if c.Workers < 1 {
		bad("workers must be positive, got %d", c.Workers)
	}
	return errs
}

// ReceiptFate is what happens on the device to one accepted message.
// Opened and Ignored are only set when Arrived is, never both.
type ReceiptFate struct {
	Arrived bool `json:"arrived"`
	Opened  bool `json:"opened"`
	Ignored bool `json:"ignored"`
}

// Fate returns the fate the simulator with this seed (Simulator.Seed)
// gives the message of token sent with correlation value correlation:
// a function of the seed, the correlation value, the token and the three
// rates only, so the same delivery always has the same fate.
func (c ReceiptsConfig) Fate(seed uint64, correlation, token string) ReceiptFate {
	return c.FateOfTitle(seed, correlation, token, "")
}

// TitleOpenRate is an open rate for the messages whose title contains
// TitleContains (ReceiptsConfig.OpenRatesByTitle).
type TitleOpenRate struct {
	TitleContains string  `json:"titleContains" yaml:"titleContains"`
	OpenRate      float64 `json:"openRate" yaml:"openRate"`
}

// openRate is the open rate of a message titled title.
func (c ReceiptsConfig) openRate(title string) float64 {
	for _, r := range c.OpenRatesByTitle {
		if title != "" && strings.Contains(title, r.TitleContains) {
			return r.OpenRate
		}
	}
	return c.OpenRate
}

// FateOfTitle is Fate for a message titled title ("" when unknown): its
// open rate is the first of OpenRatesByTitle whose text the title
// contains, else OpenRate.
func (c ReceiptsConfig) FateOfTitle(seed uint64, correlation, token, title string) ReceiptFate {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seed)
	h := sha256.New()
	h.Write(b[:])
	h.Write([]byte(correlation))
	h.Write([]byte{0})
	h.Write([]byte(token))
	sum := h.Sum(nil)
	u := func(i int) float64 { return float64(binary.BigEndian.Uint64(sum[8*i:])>>11) / (1 << 53) }
	f := ReceiptFate{Arrived: u(0) < c.ArrivalRate}
	if f.Arrived {
		f.Opened = u(1) < c.openRate(title)
		f.Ignored = !f.Opened && u(2) < c.IgnoreRate
	}
	return f
}

// ReceiptEventCounts count the receipts of one kind (arrival, open or
// ignore). Once everything queued was posted (FlushReceipts),
// Decided = Acked + Failed + Dropped.
type ReceiptEventCounts struct {
	// Decided counts the receipts the fates produced.
	Decided int64 `json:"decided"`
	// Posted counts receipts carried by at least one POST attempt.
	Posted int64 `json:"posted"`
	// Acked counts receipts whose POST was answered 2xx.
	Acked int64 `json:"acked"`
	// Failed counts receipts given up after posting: a 4xx answer, every
	// attempt failed, or Close cut the attempts short.
	Failed int64 `json:"failed"`
	// Dropped counts receipts never posted: the queue was full, or they
	// were still queued when Close gave up.
	Dropped int64 `json:"dropped"`
}

// ReceiptCounters are the receipt counters of one app of one vendor in
// one region.
type ReceiptCounters struct {
	Arrivals ReceiptEventCounts `json:"arrivals"`
	Opens    ReceiptEventCounts `json:"opens"`
	Ignores  ReceiptEventCounts `json:"ignores"`
	// Posts counts POST attempts, retries included.
	Posts int64 `json:"posts"`
	// FailedPosts counts POST attempts that failed: connection error,
	// timeout or a non-2xx answer.
	FailedPosts int64 `json:"failedPosts"`
	// Retries counts attempts after the first of a POST.
	Retries int64 `json:"retries"`
}

func (c *ReceiptCounters) add(o ReceiptCounters) {
	for _, p := range [][2]*ReceiptEventCounts{{&c.Arrivals, &o.Arrivals}, {&c.Opens, &o.Opens}, {&c.Ignores, &o.Ignores}} {
		p[0].Decided += p[1].Decided
		p[0].Posted += p[1].Posted
		p[0].Acked += p[1].Acked
		p[0].Failed += p[1].Failed
		p[0].Dropped += p[1].Dropped
	}
	c.Posts += o.Posts
	c.FailedPosts += o.FailedPosts
	c.Retries += o.Retries
}

func (c *ReceiptCounters) kind(k receiptKind) *ReceiptEventCounts {
	switch k {
	case kindOpen:
		return &c.Opens
	case kindIgnore:
		return &c.Ignores
	}
	return &c.Arrivals
}

// ReceiptStats are the exact receipt counters since the last Reset:
// Vendors[vendor][region][app]. Counters count the vendor whose endpoint
// accepted the message, whichever receipt endpoint was posted to.
type ReceiptStats struct {
	Vendors map[string]map[string]map[string]*ReceiptCounters `json:"vendors"`
}

// App returns the counters of one app of a vendor in a region (zero if
// nothing was counted).
func (s ReceiptStats) App(vendor, region, app string) ReceiptCounters {
	if c := s.Vendors[vendor][region][app]; c != nil {
		return *c
	}
	return ReceiptCounters{}
}

// Total sums the counters of every vendor, region and app.
func (s ReceiptStats) Total() ReceiptCounters {
	var t ReceiptCounters
	for _, regions := range s.Vendors {
		for _, apps := range regions {
			for _, c := range apps {
				t.add(*c)
			}
		}
	}
	return t
}

func (s *ReceiptStats) counters(vendor, region, app string) *ReceiptCounters {
	if s.Vendors == nil {
		s.Vendors = map[string]map[string]map[string]*ReceiptCounters{}
	}
	regions := s.Vendors[vendor]
	if regions == nil {
		regions = map[string]map[string]*ReceiptCounters{}
		s.Vendors[vendor] = regions
	}
	apps := regions[region]
	if apps == nil {
		apps = map[string]*ReceiptCounters{}
		regions[region] = apps
	}
	c := apps[app]
	if c == nil {
		c = &ReceiptCounters{}
		apps[app] = c
	}
	return c
}

func (s ReceiptStats) clone() ReceiptStats {
	out := ReceiptStats{Vendors: map[string]map[string]map[string]*ReceiptCounters{}}
	for v, regions := range s.Vendors {
		for r, apps := range regions {
			for a, c := range apps {
				*out.counters(v, r, a) = *c
			}
		}
	}
	return out
}

// Seed returns the seed of the simulator's randomness: Config.Seed, or the
// one picked at random when it was 0. ReceiptsConfig.Fate with it
// reproduces the simulator's receipt decisions.
func (s *Simulator) Seed() uint64 { return s.seed }

// ReceiptStats returns a copy of the receipt counters.
func (s *Simulator) ReceiptStats() ReceiptStats {
	if s.poster == nil {
		return ReceiptStats{Vendors: map[string]map[string]map[string]*ReceiptCounters{}}
	}
	s.poster.mu.Lock()
	defer s.poster.mu.Unlock()
	return s.poster.stats.clone()
}

// FlushReceipts posts every receipt queued before the call at once,
// without waiting for its Delay, and returns when each was acknowledged,
// given up or dropped, or with ctx's error when ctx ends first. Receipts
// queued during the call are posted in their own time. Without
// configured URLs, or after Close, it returns nil at once.
func (s *Simulator) FlushReceipts(ctx context.Context) error {
	if s.poster == nil {
		return nil
	}
	return s.poster.flush(ctx)
}

// WantsReceipts reports whether messages accepted in region get receipts
// (a vendor may skip working out Answer.Receipts when not).
func (s *Simulator) WantsReceipts(region string) bool {
	return s.poster != nil && s.poster.cfg.URLs[region] != ""
}

// Sent is one token a vendor endpoint accepted, with what its receipts
// carry (Answer.Receipts).
type Sent struct {
	Token string
	// Correlation is the receipt correlation value of the call (biTag,
	// callback parameter, deliveryId); "" means no receipts.
	Correlation string
	// VendorMsgID is the vendor's id of the call or message (MiPush and
	// OPPO message id, vivo task id, Huawei and Honor request id, apns-id).
	VendorMsgID string
	// VendorAppID is the vendor's id of the app where receipts name it
	// (Huawei and Honor app id, OPPO app key, HarmonyOS bundle name).
	VendorAppID string
	// PushType is the HarmonyOS push-type of the call (0 notification, 6
	// background message), which its receipts repeat.
	PushType int
	// Title is the title of the message, where the vendor's simulator
	// sets it (ReceiptsConfig.OpenRatesByTitle).
	Title string
	// CallbackURL is the receipt address the call named (MiPush
	// extra.callback, OPPO call_back_url, vivo extra.callback); "" means
	// the region's receipts worker of ReceiptsConfig.URLs.
	CallbackURL string
}

// WithCallbackURL sets the receipt address of every element of sent and
// returns sent.
func WithCallbackURL(sent []Sent, url string) []Sent {
	for i := range sent {
		sent[i].CallbackURL = url
	}
	return sent
}

// SentTokens describes tokens accepted in one call that share the
// correlation value and vendor ids.
func SentTokens(tokens []string, correlation, vendorMsgID, vendorAppID string) []Sent {
	out := make([]Sent, len(tokens))
	for i, t := range tokens {
		out[i] = Sent{Token: t, Correlation: correlation, VendorMsgID: vendorMsgID, VendorAppID: vendorAppID}
	}
	return out
}

// queueReceipts decides the fate of tokens accepted by vendor in region
// for app and queues their receipts. It never blocks on posting.
func (s *Simulator) queueReceipts(vendor, region, app string, sent []Sent) {
	if !s.WantsReceipts(region) || len(sent) == 0 {
		return
	}
	s.poster.add(vendor, region, app, sent)
}

// receiptEndpoint is the receipts worker endpoint of a vendor's arrivals.
func receiptEndpoint(vendor string) string {
	switch vendor {
	case VendorHMS, VendorHonor, VendorHarmonyOS, VendorMiPush, VendorOPPO, VendorVivo:
		return vendor
	}
	return ClientEndpoint
}
