package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/go-playground/validator/v10"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/oore-ci/oore-scm-gitlab/manifests"
)

var (
	schemaOnce sync.Once
	schema     *jsonschema.Schema
	schemaErr  error
	validate   = validator.New(validator.WithRequiredStructEnabled())

	englishPrinter = message.NewPrinter(language.English)
)

func compiledSchema() (*jsonschema.Schema, error) {
	schemaOnce.Do(func() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(manifests.Schema))
		if err != nil {
			schemaErr = fmt.Errorf("manifest schema: %w", err)
			return
		}
		c := jsonschema.NewCompiler()
		if err := c.AddResource("schema.json", doc); err != nil {
			schemaErr = fmt.Errorf("manifest schema: %w", err)
			return
		}
		schema, schemaErr = c.Compile("schema.json")
	})
	return schema, schemaErr
}

// schemaProblems checks data against manifests/schema.json.
func schemaProblems(data []byte) []string {
	s, err := compiledSchema()
	if err != nil {
		return []string{err.Error()}
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return []string{"not valid JSON: " + err.Error()}
	}
	err = s.Validate(inst)
	if err == nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return []string{err.Error()}
	}
	var out []string
	collectLeaves(verr, &out)
	return out
}

func collectLeaves(e *jsonschema.ValidationError, out *[]string) {
	if len(e.Causes) == 0 {
		loc := "/" + strings.Join(e.InstanceLocation, "/")
		*out = append(*out, fmt.Sprintf("%s: %s", loc, e.ErrorKind.LocalizedString(englishPrinter)))
		return
	}
	for _, c := range e.Causes {
		collectLeaves(c, out)
	}
}

// structProblems runs the validator/v10 rules on the decoded manifest.
func structProblems(m *Manifest) []string {
	err := validate.Struct(m)
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return []string{err.Error()}
	}
	out := make([]string, 0, len(verrs))
	for _, fe := range verrs {
		out = append(out, fmt.Sprintf("%s: fails %q%s", jsonPath(fe.Namespace()), fe.Tag(), param(fe.Param())))
	}
	return out
}

func param(p string) string {
	if p == "" {
		return ""
	}
	return " (" + p + ")"
}

// jsonPath turns "Manifest.AuthModes[0].Mode" into "/auth_modes/0/mode".
func jsonPath(ns string) string {
	parts := strings.Split(ns, ".")
	if len(parts) > 0 {
		parts = parts[1:]
	}
	var b strings.Builder
	for _, p := range parts {
		name, idx, _ := strings.Cut(p, "[")
		b.WriteString("/" + snake(name))
		if idx != "" {
			b.WriteString("/" + strings.ReplaceAll(strings.TrimSuffix(idx, "]"), "][", "/"))
		}
	}
	return b.String()
}

func snake(s string) string {
	switch s {
	case "SHA256":
		return "sha256"
	case "DefaultHostURL":
		return "default_host_url"
	}
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
