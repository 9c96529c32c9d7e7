package scmerr_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

func TestDetailsRoundTrip(t *testing.T) {
	t.Parallel()
	err := scmerr.New(codes.ResourceExhausted, scmerr.ReasonRateLimited, "GitLab rate limit reached",
		scmerr.WithRetryAfter(42*time.Second), scmerr.WithMetadata("limit", "2000"))
	// Cross the wire: a status proto round trip, as gRPC does.
	wire := status.FromProto(status.Convert(err).Proto()).Err()
	d := scmerr.Parse(wire)
	if d.Code != codes.ResourceExhausted || d.Reason != scmerr.ReasonRateLimited || d.RetryAfter != 42*time.Second || d.Metadata["limit"] != "2000" {
		t.Fatalf("round trip lost details: %+v", d)
	}
	if !scmerr.Is(fmt.Errorf("list projects: %w", wire), scmerr.ReasonRateLimited) {
		t.Fatal("Is does not see a wrapped status")
	}
	if scmerr.Is(wire, scmerr.ReasonAuthFailed) || scmerr.Is(nil, scmerr.ReasonRateLimited) {
		t.Fatal("Is matched the wrong reason")
	}
}

func TestParseNonStatusError(t *testing.T) {
	t.Parallel()
	d := scmerr.Parse(errors.New("boom"))
	if d.Code != codes.Unknown || d.Message != "boom" || d.Reason != "" {
		t.Fatalf("%+v", d)
	}
	if scmerr.Parse(nil).Code != codes.OK {
		t.Fatal("nil is not OK")
	}
}

func TestValidateNamesEveryField(t *testing.T) {
	t.Parallel()
	err := scmerr.Validate(
		scmerr.Check{Field: "connection.host_url", Value: "", Tag: "required"},
		scmerr.Check{Field: "state", Value: "short", Tag: "min=16"},
		scmerr.Check{Field: "client_id", Value: "ok", Tag: "required,max=255"},
		scmerr.Check{Field: "method", Value: "plain", Tag: "oneof=S256"},
	)
	d := scmerr.Parse(err)
	if d.Code != codes.InvalidArgument || d.Reason != scmerr.ReasonInvalidInput {
		t.Fatalf("%+v", d)
	}
	if got := strings.Join(d.FieldNames(), ","); got != "connection.host_url,method,state" {
		t.Fatalf("fields %q", got)
	}
	for _, want := range []string{"connection.host_url: is required", "state: must be at least 16 characters", "method: must be one of: S256"} {
		if !strings.Contains(d.Message, want) {
			t.Errorf("message %q lacks %q", d.Message, want)
		}
	}
	if scmerr.Validate(scmerr.Check{Field: "a", Value: "x", Tag: "required"}) != nil {
		t.Fatal("a valid field failed")
	}
}
