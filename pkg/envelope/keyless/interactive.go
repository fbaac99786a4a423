package keyless

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/sigstore/sigstore/pkg/oauthflow"
)

// PublicGoodOIDCIssuer is the public-good Sigstore instance's OIDC issuer,
// which signs people in through GitHub, Google or Microsoft.
const PublicGoodOIDCIssuer = "https://oauth2.sigstore.dev/auth"

// InteractiveOptions configures a sign-in by a person at a terminal.
type InteractiveOptions struct {
	// Issuer is the OIDC issuer to sign in with (default PublicGoodOIDCIssuer).
	Issuer string
	// ClientID is the OAuth client (default "sigstore").
	ClientID string
	// ClientSecret is the OAuth client secret, if the issuer wants one.
	ClientSecret string
	// RedirectURL is where the browser returns to (default: a listener on
	// localhost with a free port).
	RedirectURL string
	// Device uses the device authorization grant: print a URL and a code to
	// open on any device, instead of opening a browser here.
	Device bool
	// Out receives the instructions (default os.Stderr).
	Out io.Writer
}

// Interactive signs a person in through their browser (or, with Device, any
// browser) each time a token is needed, with sigstore's oauthflow. It is for
// command-line use only: a service has nobody to click.
func Interactive(o InteractiveOptions) TokenSource {
	if o.Issuer == "" {
		o.Issuer = PublicGoodOIDCIssuer
	}
	if o.ClientID == "" {
		o.ClientID = "sigstore"
	}
	if o.Out == nil {
		o.Out = os.Stderr
	}
	return TokenFunc(func(ctx context.Context) (string, error) {
		var getter oauthflow.TokenGetter
		if o.Device {
			d := oauthflow.NewDeviceFlowTokenGetterForIssuer(o.Issuer)
			d.MessagePrinter = func(s string) { fmt.Fprintln(o.Out, s) }
			getter = d
		} else {
			getter = &oauthflow.InteractiveIDTokenGetter{
				HTMLPage: oauthflow.DefaultIDTokenGetter.HTMLPage,
				Output:   o.Out,
			}
		}
		type result struct {
			tok *oauthflow.OIDCIDToken
			err error
		}
		done := make(chan result, 1)
		go func() {
			tok, err := oauthflow.OIDConnect(o.Issuer, o.ClientID, o.ClientSecret, o.RedirectURL, getter)
			done <- result{tok, err}
		}()
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case r := <-done:
			if r.err != nil {
				return "", fmt.Errorf("signing in with %s: %w", o.Issuer, r.err)
			}
			return r.tok.RawString, nil
		}
	})
}
