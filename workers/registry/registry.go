// Package registry is the stage that keeps the devices table: it applies
// device reports, user binds/unbinds, aliases, user accounts, tag
// memberships, Live Activity tokens, users' phone numbers and token
// invalidations from push.bindings.R. Records of one device share a
// partition (keyed by device id), so one replica applies them in order.
package registry

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
	"github.com/pushpipe/pushpipe/workers"
)

// Store is the devices table. *store.Devices is the ClickHouse one.
type Store interface {
	Lookup(ctx context.Context, appID string, ids []string) (map[string]schema.Device, error)
	Insert(ctx context.Context, rows []schema.Device) error
	WriteTags(ctx context.Context, rows []store.TagUser) error
	// WriteActivityTokens stores Live Activity token rows;
	// ActivityTokensByToken finds the current rows of tokens.
	WriteActivityTokens(ctx context.Context, rows []store.ActivityToken) error
	ActivityTokensByToken(ctx context.Context, appID string, tokens []string) (map[string]store.ActivityToken, error)
	// WritePhones stores users' phone numbers (set_phone, unset_phone).
	WritePhones(ctx context.Context, rows []store.UserPhone) error
}

// Config is what the registry handler needs.
type Config struct {
	Region string
	Store  Store
	Logger zerolog.Logger
}

// Validate says what is missing.
func (c Config) Validate() error {
	if !schema.ValidRegion(c.Region) {
		return fmt.Errorf("registry: region %q is not one of %v", c.Region, schema.Regions())
	}
	if c.Store == nil {
		return fmt.Errorf("registry: Store is required")
	}
	return nil
}

// Handler is the registry pipeline.BatchHandler.
type Handler struct{ cfg Config }

// New returns a registry handler.
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Handler{cfg: cfg}, nil
}

type key struct{ app, device string }

// HandleBatch applies the batch's records in order on top of the current
// rows and writes the resulting rows in one insert; the batch is committed
// only after ClickHouse acknowledged it. Bad records are rejected.
// Live Activity token records go to their own table; an invalidate record
// naming a device's Live Activity token removes that token.
func (h *Handler) HandleBatch(ctx context.Context, msgs []kafka.Message) ([]pipeline.Result, error) {
	results := make([]pipeline.Result, len(msgs))
	var ops []*schema.Binding
	var tags []store.TagUser
	var activity []store.ActivityToken
	invalidated := map[string][]*schema.Binding{} // by app
	var phones []store.UserPhone
	ids := map[string]map[string]bool{}
	for i, m := range msgs {
		b, err := schema.DecodeBinding(m.Value)
		if err == nil && b.Region != "" && b.Region != h.cfg.Region {
			err = &schema.ValidationError{Code: schema.CodeInvalidParam,
				Detail: fmt.Sprintf("binding names region %q but arrived on %s", b.Region, pipeline.BindingsTopic(h.cfg.Region))}
		}
		if err != nil {
			partial := schema.Event{Region: h.cfg.Region}
			if b != nil {
				partial.AppID, partial.DeviceID = b.AppID, b.DeviceID
			}
			results[i].Reject = workers.Reject(err, partial)
			continue
		}
		if b.TS == 0 {
			b.TS = m.Time.UnixMilli()
		}
		if b.Op == schema.OpTagAdd || b.Op == schema.OpTagRemove {
			for _, tag := range b.Tags {
				tags = append(tags, store.TagUser{AppID: b.AppID, Tag: tag, UserID: b.UserID,
					Deleted: b.Op == schema.OpTagRemove, At: time.UnixMilli(b.TS).UTC()})
			}
			continue
		}
		if b.Op == schema.OpActivityToken || b.Op == schema.OpActivityTokenRemove {
			activity = append(activity, store.ActivityToken{AppID: b.AppID, ActivityID: b.ActivityID, DeviceID: b.DeviceID,
				Token: b.ActivityToken, Deleted: b.Op == schema.OpActivityTokenRemove, At: time.UnixMilli(b.TS).UTC()})
			continue
		}
		if b.Op == schema.OpInvalidate {
			invalidated[b.AppID] = append(invalidated[b.AppID], b)
		}
		if b.Op == schema.OpSetPhone || b.Op == schema.OpUnsetPhone {
			p := store.UserPhone{AppID: b.AppID, UserID: b.UserID, Deleted: b.Op == schema.OpUnsetPhone, At: time.UnixMilli(b.TS).UTC()}
			if !p.Deleted {
				p.Phone, _ = schema.NormalizePhone(b.Phone) // DecodeBinding checked it
			}
			phones = append(phones, p)
			continue
		}
		ops = append(ops, b)
		if ids[b.AppID] == nil {
			ids[b.AppID] = map[string]bool{}
		}
		ids[b.AppID][b.DeviceID] = true
	}
	if err := h.cfg.Store.WriteTags(ctx, tags); err != nil {
		return nil, fmt.Errorf("writing %d tag memberships: %w", len(tags), err)
	}
	if err := h.cfg.Store.WriteActivityTokens(ctx, activity); err != nil {
		return nil, fmt.Errorf("writing %d Live Activity tokens: %w", len(activity), err)
	}
	if err := h.removeDeadActivityTokens(ctx, invalidated); err != nil {
		return nil, err
	}
	if err := h.cfg.Store.WritePhones(ctx, phones); err != nil {
		return nil, fmt.Errorf("writing %d phone numbers: %w", len(phones), err)
	}
	if len(ops) == 0 {
		return results, nil
	}
	current := map[key]schema.Device{}
	for app, set := range ids {
		list := make([]string, 0, len(set))
		for id := range set {
			list = append(list, id)
		}
		sort.Strings(list)
		rows, err := h.cfg.Store.Lookup(ctx, app, list)
		if err != nil {
			return nil, fmt.Errorf("reading current devices of app %s: %w", app, err)
		}
		for id, d := range rows {
			current[key{app, id}] = d
		}
	}
	changed := map[key]bool{}
	for _, b := range ops {
		k := key{b.AppID, b.DeviceID}
		d, ok := current[k]
		if !ok {
			d = schema.Device{AppID: b.AppID, DeviceID: b.DeviceID, TokenValid: true}
		}
		ts := time.UnixMilli(b.TS).UTC()
		if ok && ts.Before(d.UpdatedAt) {
			continue // an older record replayed or reordered: the newer state stands
		}
		apply(&d, b, ts)
		current[k] = d
		changed[k] = true
	}
	rows := make([]schema.Device, 0, len(changed))
	for k := range changed {
		rows = append(rows, current[k])
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].DeviceID < rows[j].DeviceID })
	if err := h.cfg.Store.Insert(ctx, rows); err != nil {
		return nil, fmt.Errorf("writing %d devices: %w", len(rows), err)
	}
	return results, nil
}

// removeDeadActivityTokens removes the Live Activity tokens that
// invalidate records name (APNs answered them dead): each one still bound
// to the record's device, unless bound again after the record.
func (h *Handler) removeDeadActivityTokens(ctx context.Context, byApp map[string][]*schema.Binding) error {
	var rows []store.ActivityToken
	for app, recs := range byApp {
		tokens := make([]string, 0, len(recs))
		for _, b := range recs {
			tokens = append(tokens, b.VendorToken)
		}
		sort.Strings(tokens)
		current, err := h.cfg.Store.ActivityTokensByToken(ctx, app, tokens)
		if err != nil {
			return fmt.Errorf("looking up invalidated Live Activity tokens of app %s: %w", app, err)
		}
		for _, b := range recs {
			t, ok := current[b.VendorToken]
			at := time.UnixMilli(b.TS).UTC()
			if !ok || t.DeviceID != b.DeviceID || at.Before(t.At) {
				continue
			}
			t.Deleted, t.At = true, at
			rows = append(rows, t)
		}
	}
	if err := h.cfg.Store.WriteActivityTokens(ctx, rows); err != nil {
		return fmt.Errorf("removing %d dead Live Activity tokens: %w", len(rows), err)
	}
	return nil
}

func apply(d *schema.Device, b *schema.Binding, ts time.Time) {
	if b.WorkspaceID != "" {
		d.WorkspaceID = b.WorkspaceID
	}
	switch b.Op {
	case schema.OpReport:
		if b.VendorToken != d.VendorToken || b.Vendor != d.Vendor || b.SelfToken != d.SelfToken {
			d.TokenValid = true // a new token is valid until a vendor says otherwise
		}
		d.Platform, d.Vendor, d.VendorToken, d.SelfToken = b.Platform, b.Vendor, b.VendorToken, b.SelfToken
		if b.AppVersion != "" {
			d.AppVersion = b.AppVersion
		}
		if b.Model != "" {
			d.Model = b.Model
		}
	case schema.OpBind:
		d.UserID, d.BoundAt = b.UserID, ts
	case schema.OpUnbind:
		d.UserID, d.UnboundAt = "", ts
	case schema.OpSetAlias:
		d.Alias, d.AliasAt = b.Alias, ts
	case schema.OpUnsetAlias:
		d.Alias = ""
	case schema.OpSetAccount:
		d.UserAccount, d.AccountAt = b.UserAccount, ts
	case schema.OpUnsetAccount:
		d.UserAccount = ""
	case schema.OpInvalidate:
		if b.VendorToken == d.VendorToken {
			d.TokenValid = false // a token reported since stays valid
		}
	}
	d.UpdatedAt = ts
}
