package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Ready reports, as Service requires, whether the stage is working: nil
// when Run is running and, within the last three probe intervals, either
// fetched a record or got an answer from the broker about the input topic;
// else an error saying which is not the case. It does not block and is
// safe to call from any goroutine.
func (s *Stage) Ready(context.Context) error {
	if !s.running.Load() {
		return fmt.Errorf("pipeline: stage %s of region %s is not running", s.cfg.Name, s.cfg.Region)
	}
	last := s.lastOK.Load()
	if last == 0 || time.Since(time.Unix(0, last)) >= 3*s.cfg.ProbeInterval {
		return fmt.Errorf("pipeline: stage %s of region %s has had no answer from the brokers about %s for %s", s.cfg.Name, s.cfg.Region, s.cfg.Topic, 3*s.cfg.ProbeInterval)
	}
	return nil
}

func (s *Stage) markOK() { s.lastOK.Store(time.Now().UnixNano()) }

// waitForTopic returns true once the input topic exists, or false when ctx
// ends first. kafka-go's consumer group rejoins in a tight loop while its
// topic is missing (its partition watcher fails at every generation), and
// its metadata calls ask the broker to auto-create the topic; so the reader
// is only created once the topic is there.
func (s *Stage) waitForTopic(ctx context.Context) bool {
	logged := false
	for {
		err := s.probeTopic(ctx)
		if err == nil {
			s.markOK()
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if !logged {
			s.log.Warn().Err(err).Msg("waiting for the input topic; create it (EnsureTopics) before the stage can consume")
			logged = true
		}
		if !Pause(ctx, s.cfg.ProbeInterval) {
			return false
		}
	}
}

// probeTopic asks the brokers for the input topic's metadata over a fresh
// connection, without auto-creation. A fresh transport is used each time
// because kafka-go's transport keeps serving the last metadata it had once
// the brokers stop answering.
func (s *Stage) probeTopic(ctx context.Context) error {
	transport := s.cfg.Security.Transport("pushpipe-" + s.cfg.Name + "-probe")
	transport.DialTimeout = s.cfg.ProbeInterval
	transport.MetadataTTL = time.Hour // one request per probe
	transport.MetadataTopics = []string{s.cfg.Topic}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(s.cfg.Brokers...), Transport: transport, Timeout: s.cfg.ProbeInterval}
	pctx, cancel := context.WithTimeout(ctx, s.cfg.ProbeInterval)
	defer cancel()
	md, err := client.Metadata(pctx, &kafka.MetadataRequest{Topics: []string{s.cfg.Topic}})
	if err != nil {
		return fmt.Errorf("asking %v for topic %s: %w", s.cfg.Brokers, s.cfg.Topic, s.cfg.Security.Explain(err))
	}
	for _, t := range md.Topics {
		if t.Name != s.cfg.Topic {
			continue
		}
		if t.Error != nil {
			return fmt.Errorf("topic %s: %w", s.cfg.Topic, t.Error)
		}
		if len(t.Partitions) == 0 {
			return fmt.Errorf("topic %s has no partitions", s.cfg.Topic)
		}
		return nil
	}
	return fmt.Errorf("topic %s: %w", s.cfg.Topic, kafka.UnknownTopicOrPartition)
}

// statsLoop copies the reader's lag and rebalance count into Metrics.
func (s *Stage) statsLoop(runDone <-chan struct{}, reader *kafka.Reader) {
	update := func() {
		st := reader.Stats()
		s.m.setLag(st.Lag)
		s.m.addRebalances(st.Rebalances)
	}
	t := time.NewTicker(s.cfg.StatsInterval)
	defer t.Stop()
	for {
		select {
		case <-runDone:
			update()
			return
		case <-t.C:
			update()
		}
	}
}

// probeLoop checks every ProbeInterval that the brokers answer about the
// input topic and marks the stage alive when they do.
func (s *Stage) probeLoop(ctx context.Context, runDone <-chan struct{}) {
	t := time.NewTicker(s.cfg.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-runDone:
			return
		case <-t.C:
		}
		if err := s.probeTopic(ctx); err != nil {
			s.log.Debug().Err(err).Msg("broker probe failed")
			continue
		}
		s.markOK()
	}
}
