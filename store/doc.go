// Package store is pushpipe's ClickHouse storage: connecting
// (OpenClickHouse), the region database's tables and their idempotent
// migrations (Migrate, embedded from migrations/*.sql), the event insert
// (InsertEvents, EventColumns), the registry's tables (Devices: devices,
// tags, phone numbers, Live Activity tokens), templates (Templates), the
// delivery index and outcomes the event sink keeps (DeliveryIndex,
// Outcomes), and the queries behind statistics, funnels, task lists and
// revokes (QueryStats, QueryFunnel, ListTasks, AckedToRecall,
// DeliveryEvents).
//
// Every function and constructor takes a connection from OpenClickHouse
// (a driver.Conn, safe for concurrent use) and the region's database name
// (Database); Devices, Templates, DeliveryIndex and Outcomes are safe for
// concurrent use. Inserts return after ClickHouse acknowledged them;
// writing an event, delivery-index or outcome row again is harmless (rows
// merge, readers count distinct ids). Errors say what was being read or
// written and wrap the driver's error, so IsPermanentQueryError can tell
// a query that will never succeed from a server that is briefly away.
// The record types themselves (schema.Event, schema.Device,
// schema.Template...) are contracts and live in package schema.
package store
