package conformance

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// ok records a problem when a call that should succeed failed. It reports
// whether the call succeeded.
func (c *C) ok(what string, err error) bool {
	if err == nil {
		return true
	}
	d := scmerr.Parse(err)
	c.Errorf("%s failed: %s: %s", what, d.Code, c.redact(d.Message))
	c.noSecret(what+"'s error", err)
	return false
}

// code checks that err is an scm.v1 error with one of the wanted codes and
// the contract's shape: a status (never Unknown or Internal), a
// google.rpc.ErrorInfo reason, BadRequest field violations for
// InvalidArgument, and no secret anywhere in it. It returns what it read.
func (c *C) code(what string, err error, want ...codes.Code) scmerr.Details {
	if err == nil {
		c.Errorf("%s answered OK, want %s", what, codeList(want))
		return scmerr.Details{Code: codes.OK}
	}
	st, isStatus := status.FromError(err)
	if !isStatus {
		c.Errorf("%s failed with a non-status error %q, want %s", what, c.redact(err.Error()), codeList(want))
		return scmerr.Details{Code: codes.Unknown}
	}
	d := scmerr.FromStatus(st)
	c.noSecret(what+"'s error", err)
	switch {
	case slices.Contains(want, d.Code):
	case d.Code == codes.Unknown:
		c.Errorf("%s answered Unknown (%q), want %s: a provider maps every failure onto a contract code (shared/scmerr)", what, c.redact(d.Message), codeList(want))
		return d
	case d.Code == codes.Internal:
		c.Errorf("%s answered Internal (%q), want %s: a bug or a recovered panic in the provider", what, c.redact(d.Message), codeList(want))
		return d
	default:
		c.Errorf("%s answered %s (%q), want %s", what, d.Code, c.redact(d.Message), codeList(want))
		return d
	}
	switch d.Code {
	case codes.Unimplemented, codes.Canceled, codes.DeadlineExceeded:
		// gRPC itself answers these, without details.
		return d
	}
	if d.Reason == "" {
		c.Errorf("%s answered %s without a google.rpc.ErrorInfo reason (build errors with shared/scmerr)", what, d.Code)
	}
	if d.Code == codes.InvalidArgument && len(d.Fields) == 0 {
		c.Errorf("%s answered InvalidArgument without a google.rpc.BadRequest field violation naming the bad field", what)
	}
	return d
}

// noSecret records a problem when err's message, metadata or field
// descriptions hold a secret the suite handed out.
func (c *C) noSecret(what string, err error) {
	if err == nil {
		return
	}
	d := scmerr.Parse(err)
	parts := []string{d.Message}
	for k, v := range d.Metadata {
		parts = append(parts, k, v)
	}
	for _, f := range d.Fields {
		parts = append(parts, f.Field, f.Description)
	}
	c.clean(what, strings.Join(parts, "\n"))
}

// clean records a problem when text holds a secret.
func (c *C) clean(what, text string) {
	if s, found := c.s.secrets.find(text); found {
		c.Errorf("%s contains a secret: %s", what, s)
	}
}

// cleanMsg is clean for a response message (every field, as text).
func (c *C) cleanMsg(what string, m proto.Message) {
	c.clean(what, prototext.Format(m))
}

// redact replaces every known secret in text, so reports never repeat one.
func (c *C) redact(text string) string { return c.s.secrets.redact(text) }

func codeList(cs []codes.Code) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.String()
	}
	return strings.Join(names, " or ")
}

// describe names a call's outcome for notes: "OK" or the code.
func describe(err error) string {
	if err == nil {
		return "OK"
	}
	return fmt.Sprint(scmerr.CodeOf(err))
}
