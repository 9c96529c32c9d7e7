package gitlabsim

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cgi"
	"os/exec"
	"strconv"
	"strings"
)

// maxGitRequestBody bounds a chunked git request body, which is read into
// memory because CGI needs a Content-Length. Request bodies are ref
// negotiation (wants and haves), small next to the packs that are streamed
// back.
const maxGitRequestBody = 64 << 20

// gitReadScopes are the token scopes GitLab accepts for git-over-HTTP reads
// (Gitlab::Auth#abilities_for_scopes: api and read_api include
// download_code).
var gitReadScopes = []string{"api", "read_api", "read_repository", "write_repository"}

// handleGitOrNotFound serves git smart HTTP (GET <path>.git/info/refs and
// POST <path>.git/git-upload-pack) through the real `git http-backend`,
// behind GitLab's rules: public projects are readable anonymously; other
// projects need HTTP Basic authentication with any non-empty username and a
// personal access token, or an OAuth access token (username "oauth2" is
// customary), with a repository-reading scope and access to the project.
// Pushes are refused. Anything else is a 404 page.
func (s *Server) handleGitOrNotFound(w http.ResponseWriter, r *http.Request) {
	repoPath, rest, ok := splitGitPath(r.URL.Path)
	if !ok {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "<!DOCTYPE html>\n<html><body><h1>404</h1><p>Page not found (GitLab simulator).</p></body></html>\n")
		return
	}
	service := ""
	switch {
	case rest == "/info/refs" && r.Method == http.MethodGet:
		service = r.URL.Query().Get("service")
	case rest == "/git-upload-pack" && r.Method == http.MethodPost:
		service = "git-upload-pack"
	case rest == "/git-receive-pack" && r.Method == http.MethodPost:
		service = "git-receive-pack"
	}
	if service != "git-upload-pack" && service != "git-receive-pack" {
		http.Error(w, "Only the smart HTTP protocol is supported by the GitLab simulator.", http.StatusForbidden)
		return
	}

	userID, authed, ok := s.gitCredentials(w, r)
	if !ok {
		return
	}
	s.mu.RLock()
	proj := s.state.projectByPath[strings.ToLower(repoPath)]
	visible := proj != nil && s.canSeeLocked(proj, userID)
	level := 0
	var id int64
	public, internal := false, false
	if visible {
		level = s.accessLevelLocked(proj, userID)
		id = proj.id
		public, internal = proj.visibility == "public", proj.visibility == "internal"
	}
	s.mu.RUnlock()

	switch {
	case !visible && !authed:
		gitAccessDenied(w, s.BaseURL())
		return
	case !visible:
		http.Error(w, "The project you were looking for could not be found or you don't have permission to view it.", http.StatusNotFound)
		return
	case service == "git-receive-pack":
		if !authed {
			gitAccessDenied(w, s.BaseURL())
			return
		}
		http.Error(w, "You are not allowed to push code to this project.", http.StatusForbidden)
		return
	case !public && !internal && level < ReporterAccess:
		http.Error(w, "You are not allowed to download code from this project.", http.StatusForbidden)
		return
	}
	s.serveGitBackend(w, r, id, rest)
}

// splitGitPath splits "/group/project.git/info/refs" into the project's
// full path and the git part. The ".git" suffix may be left out.
func splitGitPath(p string) (repoPath, rest string, ok bool) {
	for _, suffix := range []string{"/info/refs", "/git-upload-pack", "/git-receive-pack"} {
		if strings.HasSuffix(p, suffix) {
			repoPath = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(p, suffix), "/"), ".git")
			return repoPath, suffix, repoPath != ""
		}
	}
	return "", "", false
}

// gitCredentials reads HTTP Basic credentials. No credentials means
// anonymous. Credentials that do not work are answered with GitLab's 401
// and a Basic challenge, and ok is false.
func (s *Server) gitCredentials(w http.ResponseWriter, r *http.Request) (userID int64, authed, ok bool) {
	user, pass, has := r.BasicAuth()
	if !has {
		return 0, false, true
	}
	if user == "" || pass == "" {
		gitAccessDenied(w, s.BaseURL())
		return 0, false, false
	}
	s.mu.Lock()
	p, problem := s.resolveTokenLocked(pass, true)
	s.mu.Unlock()
	if problem != tokenOK || !p.hasAnyScope(gitReadScopes...) {
		gitAccessDenied(w, s.BaseURL())
		return 0, false, false
	}
	return p.userID, true, true
}

// gitAccessDenied is GitLab's answer to git without usable credentials.
func gitAccessDenied(w http.ResponseWriter, base string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="GitLab"`)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = io.WriteString(w, "HTTP Basic: Access denied. If a password was provided for Git authentication, "+
		"the password was incorrect or you're required to use a token instead of a password. "+
		"If a token was provided, it was either incorrect, expired, or improperly scoped. See "+
		base+"/help/topics/git/troubleshooting_git.md#error-on-git-fetch-http-basic-access-denied\n")
}

// serveGitBackend runs git http-backend as CGI for one request. The
// response (the pack) is streamed to the client as git writes it.
func (s *Server) serveGitBackend(w http.ResponseWriter, r *http.Request, projectID int64, rest string) {
	if err := s.withRepo(r.Context(), projectID, func(repoInfo) error { return nil }); err != nil {
		s.log.Error("git repository unavailable", "project_id", projectID, "error", err)
		http.Error(w, "repository unavailable", http.StatusInternalServerError)
		return
	}
	root, err := s.reposRoot()
	if err != nil {
		http.Error(w, "repository unavailable", http.StatusInternalServerError)
		return
	}
	gitPath, err := exec.LookPath("git")
	if err != nil {
		s.log.Error("git is not installed", "error", err)
		http.Error(w, "git is not installed on the simulator's machine", http.StatusInternalServerError)
		return
	}
	req := r.Clone(r.Context())
	req.URL.Path = "/" + strconv.FormatInt(projectID, 10) + ".git" + rest
	req.URL.RawPath = ""
	if len(req.TransferEncoding) > 0 {
		// net/http/cgi refuses chunked bodies; give it a length.
		body, err := io.ReadAll(io.LimitReader(r.Body, maxGitRequestBody+1))
		if err != nil || len(body) > maxGitRequestBody {
			http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.TransferEncoding = nil
	}
	h := &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Dir:  root,
		Env: append(gitEnv(),
			"GIT_PROJECT_ROOT="+root,
			"GIT_HTTP_EXPORT_ALL=1",
		),
		Stderr: s.log.StandardWriter(nil),
	}
	h.ServeHTTP(w, req)
}
