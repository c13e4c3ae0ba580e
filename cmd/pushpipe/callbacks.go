package main

import (
	"github.com/spf13/cobra"

	"github.com/pushpipe/pushpipe/internal/app"
)

// newCallbacksCmd is the callbacks worker command (like the other worker
// commands) with the subcommand public-key.
func newCallbacksCmd() *cobra.Command {
	cmd := newWorkerCmd(app.Callbacks)
	cmd.Long += `

Each callback is a POST of the §6.9 callbackJson to the request's callbackUrl, signed
with the RSA key of callbacks.keyFile (created on first start when missing) and
passed as ?sign=<URL-safe base64 SHA256withRSA>. Receivers verify it with the public
key: 'pushpipe callbacks public-key', or GET /callbacks/public-key on the receipts
worker of the region. Each outcome is recorded as a callback_sent event.

Each app's callbacks go only where its configuration allows (apps[].callbacks): https
unless allowHttp, the hosts it lists, and never a loopback, private, link-local (cloud
metadata) or other non-public address, checked on the address dialed after DNS
resolution, unless allowPrivateNetworks holds it. Redirects are not followed. A failed
callback is tried again from the delay tiers push.callbacks.retry.<tier>.R (one stage per
tier in this process), so a dead receiver never holds push.events.R.`
	cmd.AddCommand(newCallbacksPublicKeyCmd())
	return cmd
}

func newCallbacksPublicKeyCmd() *cobra.Command {
	var create bool
	cmd := &cobra.Command{
		Use:   "public-key",
		Short: "Print the PEM public key that business callbacks are signed with",
		Long: `Print the public key (PEM "PUBLIC KEY", as openssl rsa -pubout writes it) of the
callback signing key at callbacks.keyFile (default <stateDir>/callbacks/private_key.pem).
Give it to the receivers of callbacks so that they can verify the sign parameter.`,
		Example: "  pushpipe callbacks public-key --config prod.yaml > callbacks_public_key.pem",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			var pub []byte
			if create {
				s, err := app.CallbackSigner(cfg)
				if err != nil {
					return err
				}
				pub = s.PublicKeyPEM()
			} else if pub, err = app.CallbackPublicKey(cfg); err != nil {
				return err
			}
			if pub == nil {
				return fail("no callback signing key at %s: start the callbacks worker once, or pass --create", cfg.CallbackKeyFile())
			}
			_, err = cmd.OutOrStdout().Write(pub)
			return err
		},
	}
	cmd.Flags().BoolVar(&create, "create", false, "create a 2048-bit key at callbacks.keyFile when there is none")
	return cmd
}
