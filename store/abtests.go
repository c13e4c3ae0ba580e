package store

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pushpipe/pushpipe/schema"
)

// TaskStats returns the statistics of each task id of app over [from,
// to), each exactly as QueryStats with that task id (and day granularity)
// gives its total: the figures an A/B test's variants are compared on. A
// task without events gets the zero StatsPoint. Errors are wrapped with
// the task queried; an invalid range is a *schema.ValidationError.
func TaskStats(ctx context.Context, conn driver.Conn, db, appID string, taskIDs []string, from, to time.Time) (map[string]schema.StatsPoint, error) {
	out := make(map[string]schema.StatsPoint, len(taskIDs))
	for _, id := range taskIDs {
		res, err := QueryStats(ctx, conn, db, schema.StatsQuery{AppID: appID, TaskID: id, From: from, To: to, Granularity: schema.GranularityDay})
		if err != nil {
			return nil, fmt.Errorf("statistics of task %s: %w", id, err)
		}
		out[id] = res.Total
	}
	return out, nil
}
