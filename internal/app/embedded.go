package app

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/infra/chdb"
	embeddedkafka "github.com/pushpipe/pushpipe/infra/kafka"
	"github.com/pushpipe/pushpipe/internal/config"
)

// Embedded is the local infrastructure of `pushpipe dev`: the embedded
// Kafka-protocol broker, the embedded ClickHouse and the vendor simulator.
// A nil field was not started because the configuration names an external
// server (or, for the simulator, real vendors).
type Embedded struct {
	Kafka      *embeddedkafka.Broker
	ClickHouse *chdb.Server
	Simulator  *vendorsim.Server
}

// StartEmbedded starts what the configuration leaves to the embedded
// servers, with their data under cfg.StateDir so a second run finds the
// data of the first. On error everything already started is closed.
func StartEmbedded(ctx context.Context, cfg *config.Config, log zerolog.Logger) (e *Embedded, err error) {
	e = &Embedded{}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating state directory %s: %w", cfg.StateDir, err)
	}
	if cfg.Kafka.Embedded() {
		e.Kafka, err = embeddedkafka.Start(ctx, embeddedkafka.Config{
			DataDir: cfg.KafkaDataDir(), Port: cfg.Kafka.EmbeddedPort,
			Logger: log.With().Str("component", "kafka").Logger(),
		})
		if err != nil {
			return nil, fmt.Errorf("starting embedded kafka: %w", err)
		}
	}
	if cfg.ClickHouse.Embedded() {
		lib := cfg.ClickHouse.LibPath
		if lib == "" {
			lib = chdb.DefaultLibPath()
		}
		e.ClickHouse, err = chdb.Start(ctx, chdb.Config{
			LibPath: lib, DataDir: cfg.ClickHouseDataDir(),
			TCPPort: cfg.ClickHouse.EmbeddedTCPPort, HTTPPort: cfg.ClickHouse.EmbeddedHTTPPort,
			Logger: log.With().Str("component", "clickhouse").Logger(),
		})
		if err != nil {
			return nil, fmt.Errorf("starting embedded clickhouse: %w", err)
		}
	}
	if cfg.Vendors.Simulator {
		e.Simulator, err = vendorsim.Start(ctx, SimulatorConfig(cfg))
		if err != nil {
			return nil, err
		}
	}
	return e, nil
}

// SimulatorConfig is the vendor simulator configuration matching the apps
// of cfg, listening on cfg.Vendors.SimulatorAddr.
func SimulatorConfig(cfg *config.Config) vendorsim.Config {
	sc := vendorsim.Config{Addr: cfg.Vendors.SimulatorAddr}
	for _, a := range cfg.Apps {
		if a.MiPush != nil {
			sc.MiPush.Apps = append(sc.MiPush.Apps, vendorsim.MiPushApp{AppID: a.AppID, Secret: a.MiPush.AppSecret, PackageName: a.MiPush.PackageName})
		}
	}
	return sc
}

// Close stops the simulator, ClickHouse and Kafka, in that order. It is
// idempotent.
func (e *Embedded) Close() error {
	var errs []error
	if e.Simulator != nil {
		errs = append(errs, e.Simulator.Close())
	}
	if e.ClickHouse != nil {
		errs = append(errs, e.ClickHouse.Close())
	}
	if e.Kafka != nil {
		errs = append(errs, e.Kafka.Close())
	}
	return errors.Join(errs...)
}
