package gitlab

import (
	"encoding/json"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"github.com/oore-ci/oore-scm-gitlab/host-test/gitlabsim/fixtures"
)

// The lean decoder must read exactly what json.Unmarshal reads into the
// same fields. These views are the fields each decode mode reads, as
// encoding/json sees them.

type identifyView struct {
	ObjectKind string `json:"object_kind"`
	EventName  string `json:"event_name"`
	ProjectID  int64  `json:"project_id"`
	Project    struct {
		ID int64 `json:"id"`
	} `json:"project"`
	Attributes struct {
		TargetProjectID int64 `json:"target_project_id"`
	} `json:"object_attributes"`
}

type pushView struct {
	ObjectKind        string       `json:"object_kind"`
	EventName         string       `json:"event_name"`
	ProjectID         int64        `json:"project_id"`
	Project           hookProject  `json:"project"`
	Before            string       `json:"before"`
	After             string       `json:"after"`
	Ref               string       `json:"ref"`
	CheckoutSHA       string       `json:"checkout_sha"`
	UserName          string       `json:"user_name"`
	UserUsername      string       `json:"user_username"`
	UserEmail         string       `json:"user_email"`
	TotalCommitsCount int64        `json:"total_commits_count"`
	Commits           []hookCommit `json:"commits"`
}

type mergeRequestView struct {
	ObjectKind string           `json:"object_kind"`
	EventName  string           `json:"event_name"`
	ProjectID  int64            `json:"project_id"`
	Project    hookProject      `json:"project"`
	User       hookUser         `json:"user"`
	Attributes hookMergeRequest `json:"object_attributes"`
}

// stdDecode decodes data with encoding/json into the view of mode.
func stdDecode(data []byte, mode decodeMode) (*hookPayload, error) {
	switch mode {
	case decodePush:
		var v pushView
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, err
		}
		return &hookPayload{
			ObjectKind: v.ObjectKind, EventName: v.EventName, ProjectID: v.ProjectID, Project: v.Project,
			Before: v.Before, After: v.After, Ref: v.Ref, CheckoutSHA: v.CheckoutSHA,
			UserName: v.UserName, UserUsername: v.UserUsername, UserEmail: v.UserEmail,
			TotalCommitsCount: v.TotalCommitsCount, Commits: v.Commits,
		}, nil
	case decodeMergeRequest:
		var v mergeRequestView
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, err
		}
		return &hookPayload{
			ObjectKind: v.ObjectKind, EventName: v.EventName, ProjectID: v.ProjectID, Project: v.Project,
			User: v.User, Attributes: v.Attributes,
		}, nil
	default:
		var v identifyView
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, err
		}
		p := &hookPayload{ObjectKind: v.ObjectKind, EventName: v.EventName, ProjectID: v.ProjectID}
		p.Project.ID = v.Project.ID
		p.Attributes.TargetProjectID = v.Attributes.TargetProjectID
		return p, nil
	}
}

var decodeModes = map[string]decodeMode{"identify": decodeIdentify, "push": decodePush, "merge request": decodeMergeRequest}

// checkMatchesEncodingJSON fails unless the lean decoder and encoding/json
// agree on data in every mode: both refuse it, or both read the same values.
func checkMatchesEncodingJSON(t *testing.T, data []byte) {
	t.Helper()
	for name, mode := range decodeModes {
		got, err := decodePayload(data, mode)
		want, stdErr := stdDecode(data, mode)
		if (err == nil) != (stdErr == nil) {
			t.Fatalf("%s: lean decoder error %v, encoding/json error %v, for %q", name, err, stdErr, data)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: lean decoder read\n%#v\nencoding/json read\n%#v\nfrom %q", name, got, want, data)
		}
	}
}

// decoderSeeds are documents that exercise encoding/json's corners.
var decoderSeeds = []string{
	`{}`, `null`, ` {"project":{"id":1}} `, `[]`, `"x"`, `1`, `true`, ``, ` `, `{`, `}`, `{"a":}`, `{"a" 1}`, `{,}`, `{"a":1,}`, `[1,]`,
	`{"project_id":-0}`, `{"project_id":1e2}`, `{"project_id":1.0}`, `{"project_id":9223372036854775807}`,
	`{"project_id":9223372036854775808}`, `{"project_id":-9223372036854775808}`, `{"project_id":-9223372036854775809}`,
	`{"project_id":01}`, `{"project_id":-}`, `{"project_id":1.}`, `{"project_id":1e}`, `{"project_id":"1"}`, `{"project_id":null}`,
	`{"object_kind":"push","object_kind":"tag_push"}`, `{"OBJECT_KIND":"push"}`, `{"object_\u212aind":"push"}`, `{"ob\u006aect_kind":"push"}`,
	`{"ref":"a\u00e9\ud83c\udf89\ud83c\u0041\udf89b"}`, `{"ref":"\ud800"}`, `{"ref":"\ud800\ud800"}`, "{\"ref\":\"bad \xff\xfe utf8\"}",
	`{"ref":"esc \" \\ \/ \b \f \n \r \t"}`, `{"ref":"\x"}`, `{"ref":"\u12g4"}`, "{\"ref\":\"ctl \x01\"}", `{"ref":"unterminated}`,
	`{"commits":[{"id":"a"},null,{"id":"c","author":{"name":"n","NAME":"m"}}]}`, `{"commits":[{"id":"a"},{"id":"b"}],"commits":[{"message":"m"}]}`,
	`{"commits":[{"id":"a"},{"id":"b"},{"id":"c"}],"commits":[],"commits":[{},{}]}`, `{"commits":null}`, `{"commits":{}}`, `{"commits":[1]}`,
	`{"project":{"id":1},"project":{"web_url":"w"}}`, `{"project":null}`, `{"project":[]}`, `{"project":"p"}`,
	`{"object_attributes":{"draft":true,"work_in_progress":null,"last_commit":{"id":"x","message":"m"},"target":{"git_http_url":"u"}}}`,
	`{"object_attributes":{"draft":"true"}}`, `{"object_attributes":{"target_project_id":"14"}}`, `{"user":{"username":1}}`,
	`{"x":[[[[[[[[[[{"a":[true,false,null,-1.5e+3,"s"]}]]]]]]]]]]}`, `{"x":tru}`, `{"x":nul}`, `{"x":[}`, `{"x":{"a":1]}`,
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001), `{"x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
	`{"x":` + strings.Repeat(`{"a":`, 60) + `1` + strings.Repeat(`}`, 60) + `}`,
}

func TestLeanDecoderMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, seed := range decoderSeeds {
		checkMatchesEncodingJSON(t, []byte(seed))
	}
	for _, name := range webhookFixtureNames(t) {
		checkMatchesEncodingJSON(t, fixtures.Read(name))
	}
}

func FuzzLeanDecoderMatchesEncodingJSON(f *testing.F) {
	for _, seed := range decoderSeeds {
		f.Add([]byte(seed))
	}
	for _, name := range webhookFixtureNames(f) {
		f.Add(fixtures.Read(name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkMatchesEncodingJSON(t, data)
	})
}

// webhookFixtureNames lists every webhook payload fixture.
func webhookFixtureNames(t testing.TB) []string {
	t.Helper()
	var names []string
	for _, dir := range []string{"client-go-v1.46.0/webhooks", "client-go-v1.46.0/systemhooks", "drone-go-scm/webhooks"} {
		entries, err := fs.ReadDir(fixtures.FS, dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			names = append(names, dir+"/"+e.Name())
		}
	}
	return names
}

func TestJSONDepthLimitIsEncodingJSONs(t *testing.T) {
	t.Parallel()
	for depth, ok := range map[int]bool{maxJSONDepth - 1: true, maxJSONDepth: false} {
		// The top-level object is one level; depth more inside it.
		doc := `{"x":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`
		_, err := decodePayload([]byte(doc), decodePush)
		if (err == nil) != ok {
			t.Fatalf("depth %d: error %v, want ok=%v", depth+1, err, ok)
		}
	}
}

func TestJSONErrorsDoNotQuoteThePayload(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{`{"token":"glpat-secret"x}`, `{"project":{"id":"glpat-secret"}}`, `["glpat-secret"]`} {
		_, err := decodePayload([]byte(doc), decodeIdentify)
		if err == nil || strings.Contains(err.Error(), "glpat") {
			t.Fatalf("error for %s = %v", doc, err)
		}
	}
}
