package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
	"github.com/pushpipe/pushpipe/internal/app"
)

func newVendorsimCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "vendorsim",
		Short: "Serve the vendor simulator (MiPush v3 REST per region) for tests and demos",
		Long: `Serve the vendor simulator on a loopback address. It answers like the vendors do:
MiPush v3 REST under /mipush/<region>/v3/message/regid, checking "Authorization: key=<AppSecret>"
against the configured apps, reporting regIds that start with "bad-" as invalid, and
throttling each app to its quota. Admin API (JSON):
  GET  /admin/stats                       counts per vendor, region, app and token
  GET  /admin/requests?vendor=&region=    every request received
  POST /admin/reset                       forget requests and counts
  POST /admin/failures, /admin/latency    inject 5xx storms and latency
APNs and FCM are served over HTTP/2 with TLS on vendors.simulatorTlsAddr (127.0.0.1:18091),
whose self-signed CA is written to <stateDir>/vendorsim-ca.pem.
Point workers at it with vendors.simulator: true, vendors.simulatorAddr,
vendors.simulatorTlsAddr and vendors.simulatorCaFile (that CA file).`,
		Example: "  pushpipe vendorsim --addr 127.0.0.1:18090",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			sc := app.SimulatorConfig(cfg)
			if addr != "" {
				sc.Addr = addr
			}
			srv, err := allvendors.Start(cmd.Context(), sc)
			if err != nil {
				return fail("%v", err)
			}
			defer func() { _ = srv.Close() }()
			if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
				return fail("creating the state directory: %v", err)
			}
			if err := app.WriteSimulatorCA(cfg, srv); err != nil {
				return fail("%v", err)
			}
			_, _ = fmt.Fprintf(cmd.OutOrStdout(), "vendor simulator listening on %s (MiPush base URL of region R: %s/mipush/R); APNs and FCM over HTTP/2 with TLS on %s, CA in %s\n",
				srv.URL(), srv.URL(), srv.TLSAddr(), cfg.Vendors.SimulatorCAFile)
			log.Info().Str("addr", srv.Addr()).Msg("vendor simulator running")
			<-cmd.Context().Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "", "listen address, loopback only (default: vendors.simulatorAddr, 127.0.0.1:18090)")
	return cmd
}
