package host

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

// maxURLLength bounds every URL the API accepts.
const maxURLLength = 2048

// normaliseHostURL checks an SCM host URL the way Oore does and returns its
// origin: https (http only for loopback addresses), a host, a port in
// 1..65535 when given, and no user info, path, query or fragment. The
// provider checks it again; the host checks first so that a bad URL never
// reaches a plugin or a row.
func normaliseHostURL(field, raw string) (string, *apiError) {
	if raw == "" {
		return "", fieldError(field, "is required")
	}
	if len(raw) > maxURLLength {
		return "", fieldError(field, "must be at most 2048 characters")
	}
	if strings.ContainsAny(raw, " \t\r\n\\") {
		return "", fieldError(field, "must not contain spaces or backslashes")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", fieldError(field, "must be an absolute http(s) URL such as https://gitlab.com")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", fieldError(field, "must use https (http only for loopback addresses), not "+scheme+":")
	}
	if u.User != nil {
		return "", fieldError(field, "must not contain user info; put credentials in their own fields")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#") {
		return "", fieldError(field, "must be an origin without a path, query or fragment, such as https://gitlab.example.com")
	}
	host, ok := checkPort(u)
	if !ok {
		return "", fieldError(field, "port must be a number from 1 to 65535")
	}
	if host == "" {
		return "", fieldError(field, "must name a host")
	}
	if scheme == "http" && !isLoopback(host) {
		return "", fieldError(field, "must use https; http is allowed only for loopback addresses")
	}
	return scheme + "://" + strings.ToLower(u.Host), nil
}

// checkPort validates u's port and returns the host without it.
func checkPort(u *url.URL) (string, bool) {
	port := u.Port()
	if port == "" {
		return u.Hostname(), !strings.HasSuffix(u.Host, ":")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", false
	}
	return u.Hostname(), true
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// origin returns scheme://host[:port] of a URL, lower-cased.
func origin(u *url.URL) string {
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}

// checkRedirectURL accepts a browser redirect target on an allowed origin.
func checkRedirectURL(raw string, allowed []string) (*url.URL, *apiError) {
	bad := func(msg string) (*url.URL, *apiError) {
		return nil, &apiError{Status: 400, Code: codeInvalidRedirectURL, Message: "redirect_url: " + msg, Details: "redirect_url"}
	}
	if raw == "" {
		return bad("is required")
	}
	if len(raw) > maxURLLength {
		return bad("must be at most 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return bad("must be an absolute http(s) URL")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return bad("must use http or https")
	}
	if u.User != nil {
		return bad("must not contain user info")
	}
	if _, ok := checkPort(u); !ok {
		return bad("port must be a number from 1 to 65535")
	}
	o := origin(u)
	for _, a := range allowed {
		if o == a {
			return u, nil
		}
	}
	return bad("origin " + o + " is not allowed; allowed: " + strings.Join(allowed, ", "))
}
