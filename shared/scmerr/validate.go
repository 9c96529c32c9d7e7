package scmerr

import (
	"errors"
	"fmt"
	"sync"

	"github.com/go-playground/validator/v10"
)

// Check is one rule for Validate: the field as the caller names it
// ("connection.host_url"), its value, and validator/v10 tags ("required,max=2048").
type Check struct {
	Field string
	Value any
	Tag   string
}

var (
	defaultValidatorOnce sync.Once
	defaultValidator     *validator.Validate
)

// Validator is a shared validator/v10 instance (safe for concurrent use).
func Validator() *validator.Validate {
	defaultValidatorOnce.Do(func() { defaultValidator = validator.New(validator.WithRequiredStructEnabled()) })
	return defaultValidator
}

// Validate runs every check and answers InvalidArgument naming each field that
// fails, or nil. Generated protobuf messages carry no struct tags, so providers
// validate request fields one by one through this.
func Validate(checks ...Check) error {
	v := Validator()
	var violations []FieldViolation
	for _, c := range checks {
		err := v.Var(c.Value, c.Tag)
		if err == nil {
			continue
		}
		var verrs validator.ValidationErrors
		if errors.As(err, &verrs) && len(verrs) > 0 {
			violations = append(violations, FieldViolation{Field: c.Field, Description: Describe(verrs[0])})
			continue
		}
		violations = append(violations, FieldViolation{Field: c.Field, Description: "is invalid"})
	}
	if len(violations) == 0 {
		return nil
	}
	return InvalidArgument(violations...)
}

// Describe turns a validator/v10 failure into words a person can act on.
func Describe(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required":
		return "is required"
	case "max":
		return fmt.Sprintf("must be at most %s characters", fe.Param())
	case "min":
		return fmt.Sprintf("must be at least %s characters", fe.Param())
	case "url", "http_url":
		return "must be an absolute URL"
	case "oneof":
		return "must be one of: " + fe.Param()
	case "hexadecimal":
		return "must be hexadecimal"
	case "len":
		return fmt.Sprintf("must be exactly %s characters", fe.Param())
	case "printascii":
		return "must be printable ASCII"
	case "gt":
		return "must be greater than " + fe.Param()
	case "gte":
		return "must be at least " + fe.Param()
	case "lte":
		return "must be at most " + fe.Param()
	default:
		return "fails the " + fe.Tag() + " rule"
	}
}
