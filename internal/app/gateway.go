package app

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/gateway"
)

// GatewayConfig returns the configuration of the gateway of region as
// `pushpipe gateway` and `pushpipe dev` run it, listening on addr: the
// apps of gateway.appKeys with their AccessKeys and rate limits, the
// scheduler's time zone, and d's producer, brokers and their Kafka
// security, ClickHouse (d.CH), metrics and logger. Health, readiness and metrics are not the
// gateway's: serve them on the internal address (see Probe).
func GatewayConfig(d Deps, region, addr string) (gateway.Config, error) {
	apps, err := d.Cfg.GatewayApps()
	if err != nil {
		return gateway.Config{}, fmt.Errorf("gateway of region %s: %w", region, err)
	}
	loc, err := d.Cfg.Scheduler.Location()
	if err != nil {
		return gateway.Config{}, fmt.Errorf("gateway of region %s: %w", region, err)
	}
	return gateway.Config{Region: region, Addr: addr, Apps: apps, Producer: d.Producer,
		Brokers: d.Brokers, KafkaSecurity: d.KafkaSecurity, ClickHouse: d.CH, Database: d.Cfg.Database(region), Location: loc,
		MaxBodyBytes: d.Cfg.Gateway.MaxBodyBytes, MaxClockSkew: d.Cfg.Gateway.MaxClockSkew,
		Metrics: d.Metrics, Logger: d.Log}, nil
}

// ProbeTimeout bounds one readiness check of Probe.
const ProbeTimeout = 2 * time.Second

// Probe turns checks into the ready function of a pipeline.HealthServer
// (the internal /readyz): ready when every check returns nil within
// ProbeTimeout. A failing check is logged at warn with its error, which
// /readyz itself never shows. Safe for concurrent use when the checks are.
func Probe(log zerolog.Logger, what string, checks ...func(context.Context) error) func() bool {
	return func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), ProbeTimeout)
		defer cancel()
		for _, check := range checks {
			if err := check(ctx); err != nil {
				log.Warn().Err(err).Str("probe", what).Msg("not ready")
				return false
			}
		}
		return true
	}
}
