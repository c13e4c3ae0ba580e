package vendorsim

import (
	"maps"
	"net/http"
	"net/url"
	"strings"
)

// MaxRecallableDeliveries bounds the (message, token) pairs the simulator
// remembers so that they can be recalled; past it, the pairs of the
// oldest accepted calls are forgotten first, and their recall is answered
// as one of an unknown message. Reset forgets every pair.
const MaxRecallableDeliveries = 200_000

// recallKey names one recallable message of one app: its vendor, region,
// app and the id a recall names it by (MiPush and Huawei notify_id,
// HarmonyOS notifyId, vivo
// taskId, self-built gateway messageId).
type recallKey struct {
	vendor, region, app, id string
}

// recallable is one token an accepted push call delivered a message to,
// with the message's recall id.
type recallable struct {
	id, token string
}

// recallBook remembers the messages the simulator accepted, per recall id
// and token, and counts the recalls it confirmed. It is guarded by the
// Simulator's mu and replaced by Reset.
type recallBook struct {
	sent  map[recallKey]map[string]struct{}
	order []recallKey // keys of sent, oldest first
	pairs int         // (key, token) pairs in sent
	// counts holds, per vendor, region and app, the confirmed recalls of
	// each token.
	counts map[[3]string]map[string]int64
}

func newRecallBook() *recallBook {
	return &recallBook{sent: map[recallKey]map[string]struct{}{}, counts: map[[3]string]map[string]int64{}}
}

// noteLocked remembers the messages of a push call that ended with out,
// delivered to the accepted tokens, so that they can be recalled. Only
// accepted calls of vendors with a recall API are remembered. The caller
// holds the Simulator's mu.
func (b *recallBook) noteLocked(rec *Request, out outcome, accepted []string) {
	if out != outAccepted || len(accepted) == 0 {
		return
	}
	var sent []recallable
	switch rec.Vendor {
	case VendorMiPush:
		sent = miPushRecallable(rec, accepted)
	case VendorHMS:
		sent = hmsRecallable(rec, accepted)
	case VendorHarmonyOS:
		sent = harmonyOSRecallable(rec, accepted)
	case VendorVivo:
		sent = vivoRecallable(rec, accepted)
	case VendorSelf:
		sent = selfRecallable(rec)
	}
	for _, p := range sent {
		b.add(recallKey{rec.Vendor, rec.Region, rec.AppID, p.id}, p.token)
	}
}

func (b *recallBook) add(k recallKey, token string) {
	tokens := b.sent[k]
	if tokens == nil {
		tokens = map[string]struct{}{}
		b.sent[k] = tokens
		b.order = append(b.order, k)
	}
	if _, ok := tokens[token]; ok {
		return
	}
	tokens[token] = struct{}{}
	b.pairs++
	for b.pairs > MaxRecallableDeliveries && len(b.order) > 1 {
		oldest := b.order[0]
		b.order = b.order[1:]
		b.pairs -= len(b.sent[oldest])
		delete(b.sent, oldest)
	}
}

// recallLocked confirms the recall of message id of (vendor, region, app)
// on tokens, or on every token the message went to when tokens is nil. It
// counts and returns the tokens the message had been delivered to; none
// means the message is unknown. The caller holds the Simulator's mu.
func (b *recallBook) recallLocked(vendor, region, app, id string, tokens []string) []string {
	sent := b.sent[recallKey{vendor, region, app, id}]
	if len(sent) == 0 {
		return nil
	}
	var recalled []string
	if tokens == nil {
		for t := range sent {
			recalled = append(recalled, t)
		}
	} else {
		seen := map[string]bool{}
		for _, t := range tokens {
			if _, ok := sent[t]; ok && !seen[t] {
				seen[t] = true
				recalled = append(recalled, t)
			}
		}
	}
	if len(recalled) == 0 {
		return nil
	}
	ck := [3]string{vendor, region, app}
	c := b.counts[ck]
	if c == nil {
		c = map[string]int64{}
		b.counts[ck] = c
	}
	for _, t := range recalled {
		c[t]++
	}
	return recalled
}

// recall is recallLocked under the Simulator's lock.
func (s *Simulator) recall(vendor, region, app, id string, tokens []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recalls.recallLocked(vendor, region, app, id, tokens)
}

// Recalls returns the recalls the simulator confirmed on vendor's
// endpoints in region for appID since the last Reset: for each token, how
// often a message delivered to it was recalled (a recall that names
// several tokens counts once for each). Recalls answered as unknown (a
// message the simulator never accepted, or forgot: see
// MaxRecallableDeliveries) are not counted. The map is a copy, empty when
// there were none.
func (s *Simulator) Recalls(vendor, region, appID string) map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int64{}
	maps.Copy(out, s.recalls.counts[[3]string{vendor, region, appID}])
	return out
}

// sameID returns the recallables of a message with one recall id for all
// of tokens.
func sameID(id string, tokens []string) []recallable {
	out := make([]recallable, len(tokens))
	for i, t := range tokens {
		out[i] = recallable{id: id, token: t}
	}
	return out
}

// beginRecall records a recall request to vendor in region and applies
// the vendor's injected latency and failures, as push calls do (quotas
// apply to push calls only). auth, when not empty, is recorded as the
// credential instead of the Authorization header. It returns the record
// and true when the handler is to answer; false when an injected failure
// was answered (with injected's vendor JSON when the rule has a code). A
// client that leaves during the latency gets no answer.
func (s *Simulator) beginRecall(w http.ResponseWriter, r *http.Request, vendor, region, appID, auth string, form url.Values, tokens []string,
	injected func(http.ResponseWriter, Failure) string) (*Request, bool) {
	rec := s.begin(vendor, region, appID, r, form, tokens)
	if auth != "" {
		s.setAuth(rec, auth)
	}
	if !s.wait(r, s.delay(vendor, region)) {
		s.finish(rec, 0, 0, "", outAbandoned, nil, nil)
		panic(http.ErrAbortHandler) // drop the connection without an answer
	}
	if f, ok := s.failure(vendor, region); ok {
		s.writeInjected(w, rec, f, injected)
		return nil, false
	}
	return rec, true
}

// recallPaths are the path suffixes of the recall endpoints per vendor.
var recallPaths = map[string]string{
	VendorMiPush:    MiPushRevokePath,
	VendorHMS:       HMSRevokePath,
	VendorHarmonyOS: HarmonyOSRevokePath,
	VendorVivo:      VivoRecallPath,
	VendorSelf:      SelfRecallPath,
}

// RecallRequests returns copies of the recorded recall calls to vendor in
// region (an empty region matches any), in arrival order: the requests to
// the vendor's recall endpoint, whatever their answer.
func (s *Simulator) RecallRequests(vendor, region string) []Request {
	suffix, ok := recallPaths[vendor]
	if !ok {
		return []Request{}
	}
	out := []Request{}
	for _, r := range s.Requests(vendor, region) {
		if strings.HasSuffix(r.Path, suffix) {
			out = append(out, r)
		}
	}
	return out
}
