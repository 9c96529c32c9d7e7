package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"

	"github.com/go-playground/validator/v10"

	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// maxRequestBody bounds an API request body (webhooks have their own limit).
// It is large enough that an over-long field is answered 400 naming the field.
const maxRequestBody = 4 << 20

// decodeJSON reads a JSON object into dst strictly: one object, no unknown
// fields, right types; then checks dst's `validate` tags. Errors are 400
// invalid_input naming the field, or 413 when the body is too large.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) *apiError {
	body := http.MaxBytesReader(w, r.Body, maxRequestBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(mbe.Limit)
		}
		return newError(http.StatusBadRequest, codeInvalidInput, "request body must hold exactly one JSON object")
	}
	return validateStruct(dst)
}

func tooLarge(limit int64) *apiError {
	return newError(http.StatusRequestEntityTooLarge, codePayloadTooLarge, fmt.Sprintf("request body exceeds %d bytes", limit))
}

// jsonError explains a decoding error in terms of the request's fields.
func jsonError(err error) *apiError {
	var mbe *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return tooLarge(mbe.Limit)
	case errors.Is(err, io.EOF):
		return newError(http.StatusBadRequest, codeInvalidInput, "request body is required: a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return newError(http.StatusBadRequest, codeInvalidInput, "malformed JSON: the body ends early")
	case errors.As(err, &syn):
		return newError(http.StatusBadRequest, codeInvalidInput, fmt.Sprintf("malformed JSON at byte %d", syn.Offset))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return newError(http.StatusBadRequest, codeInvalidInput, fmt.Sprintf("request body must be a JSON object, not %s", typ.Value))
		}
		return fieldError(typ.Field, fmt.Sprintf("must be %s, not %s", jsonKind(typ.Type), typ.Value))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		field := strings.Trim(name, `"`)
		return fieldError(field, "is not a known field")
	}
	return newError(http.StatusBadRequest, codeInvalidInput, "malformed JSON")
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "an object"
}

var (
	validateOnce sync.Once
	validate     *validator.Validate
)

// requestValidator names fields by their JSON names in errors.
func requestValidator() *validator.Validate {
	validateOnce.Do(func() {
		validate = validator.New(validator.WithRequiredStructEnabled())
		validate.RegisterTagNameFunc(func(f reflect.StructField) string {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				return ""
			}
			return name
		})
	})
	return validate
}

// validateStruct checks `validate` tags; every failing field is named.
func validateStruct(v any) *apiError {
	err := requestValidator().Struct(v)
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) || len(verrs) == 0 {
		return newError(http.StatusBadRequest, codeInvalidInput, "invalid request")
	}
	e := &apiError{Status: http.StatusBadRequest, Code: codeInvalidInput}
	parts := make([]string, 0, len(verrs))
	names := make([]string, 0, len(verrs))
	for _, fe := range verrs {
		desc := scmerr.Describe(fe)
		parts = append(parts, fe.Field()+": "+desc)
		names = append(names, fe.Field())
		e.Fields = append(e.Fields, scmerr.FieldViolation{Field: fe.Field(), Description: desc})
	}
	e.Message, e.Details = strings.Join(parts, "; "), strings.Join(names, ", ")
	return e
}
