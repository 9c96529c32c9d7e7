package host

import (
	"net/http"
	"strings"
)

// What a runner asks the checkout proxy: the parts of its path, its git
// request (only upload-pack passes) and its job token.

// gitRequest is a parsed proxy request.
type gitRequest struct {
	runnerID, jobID, provider string
	// fullName is the repository's path without ".git".
	fullName string
	// part is gitInfoRefs or gitUploadPack.
	part string
}

// parseGitRequest splits the path and allows only upload-pack: GET
// info/refs?service=git-upload-pack and POST git-upload-pack. Pushes are
// refused before anything else is looked at.
func parseGitRequest(r *http.Request) (gitRequest, error) {
	gr := gitRequest{runnerID: r.PathValue("runner_id"), jobID: r.PathValue("job_id"), provider: r.PathValue("provider")}
	path := r.PathValue("path")
	if len(path) > maxCheckoutPath {
		return gr, gitFail(http.StatusNotFound, checkoutBadRequest, "no such repository path")
	}
	for _, part := range []string{gitInfoRefs, gitUploadPack, gitReceivePack} {
		if rest, ok := strings.CutSuffix(path, part); ok {
			gr.part, gr.fullName = part, strings.TrimSuffix(rest, ".git")
			break
		}
	}
	if gr.part == "" || gr.fullName == "" {
		return gr, gitFail(http.StatusNotFound, checkoutBadRequest, "not a git smart-HTTP path: the checkout proxy serves <clone_url>/info/refs and <clone_url>/git-upload-pack")
	}
	service := r.URL.Query().Get("service")
	switch {
	case gr.part == gitReceivePack, gr.part == gitInfoRefs && service == "git-receive-pack":
		return gr, gitFail(http.StatusForbidden, checkoutPushRefused, "pushing is not allowed: the checkout proxy only fetches (git-upload-pack)")
	case gr.part == gitInfoRefs && r.Method != http.MethodGet, gr.part == gitUploadPack && r.Method != http.MethodPost:
		return gr, gitFail(http.StatusMethodNotAllowed, checkoutBadRequest, "method %s is not allowed here", r.Method)
	case gr.part == gitInfoRefs && service != "git-upload-pack":
		return gr, gitFail(http.StatusForbidden, checkoutBadRequest, "only git's smart HTTP protocol is served: info/refs?service=git-upload-pack")
	case gr.part == gitUploadPack && mediaType(r.Header.Get("Content-Type")) != contentTypeUploadRequest:
		return gr, gitFail(http.StatusUnsupportedMediaType, checkoutBadRequest, "git-upload-pack requests must be %s", contentTypeUploadRequest)
	}
	return gr, nil
}

// mediaType is a Content-Type without its parameters, lower-cased.
func mediaType(ct string) string {
	t, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(t))
}

// jobToken reads the job token: the Basic-auth password (any user name) or
// a Bearer token.
func jobToken(r *http.Request) (string, bool) {
	if _, pass, ok := r.BasicAuth(); ok {
		return pass, pass != ""
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}
