// Package contract is Oore's wire contract for SCM integrations: the
// integration part of Oore's published OpenAPI 3.1 document, copied from
// shared/contracts/oore-openapi-scm.json (oore-ci/oore.build,
// apps/docs/public/openapi.json, cut down to what an SCM provider serves).
// The project never reads that file at build or test time; this copy is
// embedded.
//
// Validator checks an HTTP answer against the document: the response schema
// of the operation (path template, method, status), compiled as JSON Schema
// 2020-12 (what OpenAPI 3.1 schemas are). An error status the operation does
// not list must still be Oore's ApiError shape.
package contract

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Document is the OpenAPI document.
//
//go:embed oore-openapi-scm.json
var Document []byte

const docURL = "oore-openapi-scm.json"

// ErrNotInContract: the path and method are not an operation of the document.
var ErrNotInContract = errors.New("not an operation of the contract")

// Validator validates answers against the document. Safe for concurrent use.
type Validator struct {
	doc       openapi
	compiler  *jsonschema.Compiler
	mu        sync.Mutex
	schemas   map[string]*jsonschema.Schema
	templates []string
}

type openapi struct {
	Paths map[string]map[string]operation `json:"paths"`
}

type operation struct {
	Responses map[string]struct {
		Content map[string]json.RawMessage `json:"content"`
	} `json:"responses"`
}

// NewValidator parses the embedded document.
func NewValidator() (*Validator, error) {
	v := &Validator{schemas: map[string]*jsonschema.Schema{}}
	if err := json.Unmarshal(Document, &v.doc); err != nil {
		return nil, fmt.Errorf("parse the contract: %w", err)
	}
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(Document))
	if err != nil {
		return nil, fmt.Errorf("parse the contract: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(docURL, raw); err != nil {
		return nil, fmt.Errorf("load the contract: %w", err)
	}
	v.compiler = c
	for p := range v.doc.Paths {
		v.templates = append(v.templates, p)
	}
	// Literal segments win over wildcards: more literal characters first.
	sort.Slice(v.templates, func(i, j int) bool {
		return strings.Count(v.templates[i], "{") < strings.Count(v.templates[j], "{")
	})
	return v, nil
}

// Template finds the document's path template for a request path.
func (v *Validator) Template(path string) (string, bool) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for _, t := range v.templates {
		ts := strings.Split(strings.Trim(t, "/"), "/")
		if len(ts) != len(segs) {
			continue
		}
		ok := true
		for i := range ts {
			if !strings.HasPrefix(ts[i], "{") && ts[i] != segs[i] {
				ok = false
				break
			}
		}
		if ok {
			return t, true
		}
	}
	return "", false
}

// ValidateResponse checks one answer. ErrNotInContract when the operation
// is not in the document (the host's own additions).
func (v *Validator) ValidateResponse(method, path string, status int, contentType string, body []byte) error {
	tmpl, ok := v.Template(path)
	if !ok {
		return fmt.Errorf("%s %s: %w", method, path, ErrNotInContract)
	}
	op, ok := v.doc.Paths[tmpl][strings.ToLower(method)]
	if !ok {
		return fmt.Errorf("%s %s: %w", method, tmpl, ErrNotInContract)
	}
	code := strconv.Itoa(status)
	resp, listed := op.Responses[code]
	var pointer string
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case listed && len(resp.Content) == 0:
		return nil // e.g. 303: no body described
	case listed:
		if _, ok := resp.Content[mt]; !ok {
			return fmt.Errorf("%s %s %d: content type %q, the contract says %v", method, tmpl, status, mt, keys(resp.Content))
		}
		if mt != "application/json" {
			return nil // the callback's HTML page: a string
		}
		pointer = "#/paths/" + escape(tmpl) + "/" + strings.ToLower(method) + "/responses/" + code + "/content/application~1json/schema"
	case status >= 400:
		if mt != "application/json" {
			return fmt.Errorf("%s %s %d: error answer is %q, not Oore's JSON error", method, tmpl, status, mt)
		}
		pointer = "#/components/schemas/ApiError"
	default:
		return fmt.Errorf("%s %s: status %d is not in the contract (listed: %v)", method, tmpl, status, keys(op.Responses))
	}
	sch, err := v.schema(pointer)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s %s %d: body is not JSON: %w", method, tmpl, status, err)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("%s %s %d: %w", method, tmpl, status, err)
	}
	return nil
}

func (v *Validator) schema(pointer string) (*jsonschema.Schema, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if s, ok := v.schemas[pointer]; ok {
		return s, nil
	}
	s, err := v.compiler.Compile(docURL + pointer)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", pointer, err)
	}
	v.schemas[pointer] = s
	return s, nil
}

// escape makes a path template a JSON pointer token.
func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
