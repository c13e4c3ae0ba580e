package vendorsim

import (
	"maps"
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

// Recallable is one token an accepted push call delivered a message to,
// with the id a recall names the message by (Answer.Recallable).
type Recallable struct {
	ID, Token string
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

// add remembers that the message k was delivered to token, forgetting
// the oldest messages past MaxRecallableDeliveries. The caller holds the
// Simulator's mu.
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

// Recall confirms the recall of the message id of (vendor, region, app)
// on tokens, or on every token it went to when tokens is nil, as a
// vendor's recall endpoint does: it counts (see Recalls) and returns the
// tokens the message had been delivered to; none means the simulator
// accepted no such message (or forgot it, see MaxRecallableDeliveries).
func (s *Simulator) Recall(vendor, region, app, id string, tokens []string) []string {
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

// SameID returns the recallables of a message with one recall id for all
// of tokens.
func SameID(id string, tokens []string) []Recallable {
	out := make([]Recallable, len(tokens))
	for i, t := range tokens {
		out[i] = Recallable{ID: id, Token: t}
	}
	return out
}

// RecallRequests returns copies of the recorded recall calls to vendor in
// region (an empty region matches any), in arrival order: the requests to
// the vendor's recall endpoint, whatever their answer.
func (s *Simulator) RecallRequests(vendor, region string) []Request {
	var suffix string
	for _, v := range s.vendors {
		if r, ok := v.(Recaller); ok && v.Name() == vendor {
			suffix = r.RecallPath()
		}
	}
	if suffix == "" {
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
