package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
)

// Consumer group states as the group coordinator names them
// (GroupAssignment.State).
const (
	GroupStable              = "Stable"
	GroupPreparingRebalance  = "PreparingRebalance"
	GroupCompletingRebalance = "CompletingRebalance"
	GroupEmpty               = "Empty"
	GroupDead                = "Dead"
)

// GroupWatcherConfig says which consumer group to describe and where.
type GroupWatcherConfig struct {
	// Brokers are the bootstrap host:port addresses. Required.
	Brokers []string
	// Security secures every connection (SASL, TLS). The zero value is
	// plaintext without authentication.
	Security KafkaSecurity
	// GroupID is the consumer group, e.g. "pushpipe.sender.sg". Required.
	GroupID string
	// Topic is the topic whose assigned partitions are reported. Required.
	Topic string
	// Timeout bounds one Describe call (connect, find the coordinator,
	// ask). A coordinator may hold the answer while the group rebalances,
	// so keep it short. Default 2s.
	Timeout time.Duration
}

// DefaultGroupDescribeTimeout is GroupWatcherConfig.Timeout when zero.
const DefaultGroupDescribeTimeout = 2 * time.Second

// Validate reports the first setting that cannot work, saying what to fix.
func (c GroupWatcherConfig) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("pipeline: GroupWatcherConfig.Brokers is empty: give at least one host:port")
	case c.GroupID == "":
		return errors.New("pipeline: GroupWatcherConfig.GroupID is empty: name the consumer group to watch")
	case c.Topic == "":
		return errors.New("pipeline: GroupWatcherConfig.Topic is empty: name the topic whose partitions are shared")
	case c.Timeout < 0:
		return fmt.Errorf("pipeline: GroupWatcherConfig.Timeout %s is negative: use 0 for the default %s", c.Timeout, DefaultGroupDescribeTimeout)
	}
	return nil
}

// GroupMember is one member of a consumer group.
type GroupMember struct {
	// ID is the member id the coordinator gave the member; it changes when
	// the member rejoins.
	ID string
	// ClientID and Host are what the member's client reported.
	ClientID, Host string
	// Partitions are the partitions of the watched topic assigned to the
	// member in the current generation, sorted; empty while the group
	// rebalances or when the member got none.
	Partitions []int
}

// GroupAssignment is what the coordinator says about a consumer group at
// one moment.
type GroupAssignment struct {
	// State is the group state (GroupStable, GroupPreparingRebalance, ...).
	State string
	// Members are the group's members, sorted by ID.
	Members []GroupMember
	// At is when the answer arrived.
	At time.Time
}

// Size is the number of members.
func (g GroupAssignment) Size() int { return len(g.Members) }

// Stable reports whether the group is in the Stable state, i.e. every
// member holds its final assignment of the current generation.
func (g GroupAssignment) Stable() bool { return g.State == GroupStable }

// AssignedPartitions is the number of partitions of the watched topic
// assigned to any member.
func (g GroupAssignment) AssignedPartitions() int {
	n := 0
	for _, m := range g.Members {
		n += len(m.Partitions)
	}
	return n
}

// Owner returns the member that is assigned partition p, if any.
func (g GroupAssignment) Owner(p int) (GroupMember, bool) {
	for _, m := range g.Members {
		if slices.Contains(m.Partitions, p) {
			return m, true
		}
	}
	return GroupMember{}, false
}

// GroupWatcher asks the group coordinator who is in a consumer group and
// which partitions of a topic each member holds. It is the way a stage
// replica learns how many replicas share its work (for example to split a
// region-wide rate budget) without talking to the other replicas. Safe for
// concurrent use; it holds no connections between calls.
type GroupWatcher struct {
	cfg GroupWatcherConfig
}

// NewGroupWatcher returns a watcher for cfg. It does not contact the
// brokers.
func NewGroupWatcher(cfg GroupWatcherConfig) (*GroupWatcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultGroupDescribeTimeout
	}
	cfg.Brokers = slices.Clone(cfg.Brokers)
	return &GroupWatcher{cfg: cfg}, nil
}

// Config returns the watcher's configuration with defaults applied.
func (w *GroupWatcher) Config() GroupWatcherConfig { return w.cfg }

// Describe asks the group's coordinator (DescribeGroups) for the group's
// state, members and their assigned partitions of the watched topic. A
// group nobody ever joined answers with state GroupDead and no members.
// It returns within the configured Timeout or when ctx ends.
//
// Each call uses a fresh connection that is closed before returning: the
// call is rare (about once a second per replica) and a long-lived kafka-go
// transport would keep background goroutines and stale metadata.
func (w *GroupWatcher) Describe(ctx context.Context) (GroupAssignment, error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	transport := w.cfg.Security.Transport("pushpipe-group-watcher")
	transport.DialTimeout = w.cfg.Timeout
	transport.MetadataTTL = time.Hour // one metadata request per call
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(w.cfg.Brokers...), Transport: transport, Timeout: w.cfg.Timeout}
	resp, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{w.cfg.GroupID}})
	if err != nil {
		return GroupAssignment{}, fmt.Errorf("describing consumer group %s at %v: %w", w.cfg.GroupID, w.cfg.Brokers, w.cfg.Security.Explain(err))
	}
	for _, g := range resp.Groups {
		if g.GroupID != w.cfg.GroupID {
			continue
		}
		if g.Error != nil {
			return GroupAssignment{}, fmt.Errorf("describing consumer group %s: %w", w.cfg.GroupID, g.Error)
		}
		out := GroupAssignment{State: g.GroupState, At: time.Now(), Members: make([]GroupMember, 0, len(g.Members))}
		for _, m := range g.Members {
			gm := GroupMember{ID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost}
			for _, t := range m.MemberAssignments.Topics {
				if t.Topic == w.cfg.Topic {
					gm.Partitions = append(gm.Partitions, t.Partitions...)
				}
			}
			slices.Sort(gm.Partitions)
			out.Members = append(out.Members, gm)
		}
		slices.SortFunc(out.Members, func(a, b GroupMember) int {
			switch {
			case a.ID < b.ID:
				return -1
			case a.ID > b.ID:
				return 1
			}
			return 0
		})
		return out, nil
	}
	return GroupAssignment{}, fmt.Errorf("describing consumer group %s: the coordinator did not answer for it", w.cfg.GroupID)
}
