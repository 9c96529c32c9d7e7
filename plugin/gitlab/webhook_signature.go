package gitlab

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"hash"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// signingTokenPrefix starts a GitLab webhook signing token: "whsec_"
// followed by the base64 of the HMAC key (Standard Webhooks).
const signingTokenPrefix = "whsec_"

// authenticate checks a delivery against the repository's secret, before
// anything in the payload is trusted. A secret that is a signing token
// ("whsec_...") checks the Standard Webhooks signature and returns the signed
// timestamp (Unix seconds); the host decides whether it is too old. Any other
// secret is compared with X-Gitlab-Token. Errors never contain the secret or
// what the delivery presented.
func authenticate(headers map[string]string, body []byte, secret string) (signedAt int64, err error) {
	if strings.HasPrefix(secret, signingTokenPrefix) {
		return verifySignature(headers, body, secret)
	}
	return 0, verifyToken(header(headers, headerToken), secret)
}

// verifyToken compares the presented X-Gitlab-Token with the secret in
// constant time. Both are hashed first so neither length leaks through timing.
func verifyToken(presented, secret string) error {
	if presented == "" {
		return unauthenticated("the delivery carries no X-Gitlab-Token; set the GitLab webhook's secret token to this repository's webhook secret")
	}
	got := sha256.Sum256([]byte(presented))
	want := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return unauthenticated("the delivery's X-Gitlab-Token does not match this repository's webhook secret; update the GitLab webhook's secret token, or rotate the secret and set the new one in GitLab")
	}
	return nil
}

// verifySignature checks webhook-signature, a space-separated list of
// "v1,<base64 HMAC-SHA256>" of "{webhook-id}.{webhook-timestamp}.{body}"
// keyed with the signing token's key. One matching signature is enough.
func verifySignature(headers map[string]string, body []byte, secret string) (int64, error) {
	key, err := signingKey(secret)
	if err != nil {
		return 0, err
	}
	id := header(headers, headerWebhookID)
	timestamp := header(headers, headerWebhookTimestamp)
	signatures := header(headers, headerWebhookSignature)
	if id == "" || timestamp == "" || signatures == "" {
		return 0, unauthenticated("the delivery carries no Standard Webhooks signature (webhook-id, webhook-timestamp and webhook-signature); this repository's secret is a signing token, so set the GitLab webhook's signing token to it")
	}
	signedAt, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return 0, unauthenticated("the delivery's webhook-timestamp is not Unix seconds, so its signature cannot be checked")
	}
	want := signatureOf(hmac.New(sha256.New, key), id, timestamp, body)
	var buf [64]byte
	match := 0
	for _, sig := range strings.Fields(signatures) {
		version, value, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" || base64.StdEncoding.DecodedLen(len(value)) > len(buf) {
			continue
		}
		n, err := base64.StdEncoding.Decode(buf[:], []byte(value))
		if err != nil || n != len(want) {
			continue
		}
		match |= subtle.ConstantTimeCompare(buf[:n], want)
	}
	if match != 1 {
		return 0, unauthenticated("the delivery's webhook-signature does not match this repository's signing token; set the GitLab webhook's signing token to the repository's current one")
	}
	return signedAt, nil
}

// signatureOf is the HMAC of a Standard Webhooks message.
func signatureOf(mac hash.Hash, id, timestamp string, body []byte) []byte {
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

// signingKey decodes the key of a "whsec_<base64>" signing token.
func signingKey(secret string) ([]byte, error) {
	encoded := strings.TrimPrefix(secret, signingTokenPrefix)
	key, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(encoded)
	}
	if err != nil || len(key) == 0 {
		return nil, scmerr.New(codes.InvalidArgument, scmerr.ReasonInvalidInput,
			"invalid request: secret: starts with whsec_ but is not a GitLab signing token (whsec_ followed by a base64 key); store the token exactly as GitLab showed it",
			scmerr.WithField("secret", "is not a valid signing token (whsec_ followed by base64)"))
	}
	return key, nil
}

func unauthenticated(msg string) error {
	return scmerr.New(codes.Unauthenticated, scmerr.ReasonSignatureInvalid, "verify webhook delivery: "+msg)
}
