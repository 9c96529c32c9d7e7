package gitlabsim

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// maxPayloadCommits is how many commits a push payload lists (the newest);
// total_commits_count has the real number.
const maxPayloadCommits = 20

// eventHeaders maps a webhook kind onto its X-Gitlab-Event value.
var eventHeaders = map[string]string{
	"push":          "Push Hook",
	"tag_push":      "Tag Push Hook",
	"merge_request": "Merge Request Hook",
	"note":          "Note Hook",
	"pipeline":      "Pipeline Hook",
}

// gitFacts is what the repository says about an event.
type gitFacts struct {
	ref       string
	before    string
	after     string
	checkout  string // "" means null
	commits   []commitInfo
	total     int
	head      commitInfo // MR, note and pipeline: the head commit
	oldrev    string     // MR update: the previous head
	iid       int64
	srcBranch string
}

// changeCommits are n commits that each rewrite CHANGES.md.
func changeCommits(ri repoInfo, n int, skipCI bool) []newCommit {
	commits := make([]newCommit, n)
	for i := range commits {
		ri.repo.counter++
		msg := fmt.Sprintf("Update CHANGES.md (change %d)", ri.repo.counter)
		if skipCI {
			msg += " [skip ci]"
		}
		commits[i] = newCommit{message: msg + "\n", files: []fileChange{{
			path: "CHANGES.md",
			data: fmt.Appendf(nil, "# Changes\n\n- change %d\n", ri.repo.counter),
		}}}
	}
	return commits
}

// pushFactsLocked makes (or looks up) the commits of a push or tag push.
// ri.repo.mu must be held.
func (s *Server) pushFactsLocked(ctx context.Context, ri repoInfo, spec WebhookSpec) (gitFacts, error) {
	var f gitFacts
	dir := ri.repo.dir
	if spec.Kind == "tag_push" {
		tag := spec.Tag
		if tag == "" {
			tag = "v1.0.0"
		}
		f.ref = "refs/tags/" + tag
		if spec.Delete {
			old, ok, err := revParse(ctx, dir, f.ref)
			if err != nil {
				return f, err
			}
			if !ok {
				old = zeroSHA
			} else if err := updateRefLocked(ctx, dir, f.ref, zeroSHA); err != nil {
				return f, err
			}
			f.before, f.after = old, zeroSHA
			return f, nil
		}
		target := spec.Sha
		if target == "" {
			tip, _, err := revParse(ctx, dir, "refs/heads/"+ri.defaultBranch+"^{commit}")
			if err != nil {
				return f, err
			}
			target = tip
		}
		if err := updateRefLocked(ctx, dir, f.ref, target); err != nil {
			return f, err
		}
		info, err := commitInfoLocked(ctx, ri, target)
		if err != nil {
			return f, err
		}
		f.before, f.after, f.checkout = zeroSHA, target, target
		f.commits, f.total = []commitInfo{info}, 1
		return f, nil
	}

	branch := spec.Branch
	if branch == "" {
		branch = ri.defaultBranch
	}
	f.ref = "refs/heads/" + branch
	tip, exists, err := revParse(ctx, dir, f.ref+"^{commit}")
	if err != nil {
		return f, err
	}
	switch {
	case spec.Delete:
		f.before, f.after = tip, zeroSHA
		if !exists {
			f.before = spec.Before
			if f.before == "" {
				f.before = zeroSHA
			}
		} else if branch != ri.defaultBranch {
			if err := updateRefLocked(ctx, dir, f.ref, zeroSHA); err != nil {
				return f, err
			}
		}
		return f, nil
	case spec.Sha != "":
		info, err := commitInfoLocked(ctx, ri, spec.Sha)
		if err != nil {
			return f, fmt.Errorf("commit %s: %w", spec.Sha, err)
		}
		f.before = spec.Before
		if f.before == "" {
			if parent, ok, _ := revParse(ctx, dir, info.ID+"^"); ok && !spec.CreateBranch {
				f.before = parent
			} else {
				f.before = zeroSHA
			}
		}
		f.after, f.checkout = info.ID, info.ID
		f.commits, f.total = []commitInfo{info}, 1
		return f, nil
	}
	n := spec.Commits
	if n <= 0 && !spec.CreateBranch {
		n = 1
	}
	if spec.CreateBranch && n == 0 {
		base, _, err := revParse(ctx, dir, "refs/heads/"+ri.defaultBranch+"^{commit}")
		if err != nil {
			return f, err
		}
		if !exists {
			if err := updateRefLocked(ctx, dir, f.ref, base); err != nil {
				return f, err
			}
			tip = base
		}
		f.before, f.after, f.checkout = zeroSHA, tip, tip
		f.commits = []commitInfo{}
		return f, nil
	}
	before, infos, err := s.commitOnBranchLocked(ctx, ri, branch, changeCommits(ri, n, spec.SkipCI))
	if err != nil {
		return f, err
	}
	if spec.CreateBranch {
		before = zeroSHA
	}
	last := infos[len(infos)-1].ID
	f.before, f.after, f.checkout = before, last, last
	f.total = len(infos)
	f.commits = infos[max(0, len(infos)-maxPayloadCommits):]
	return f, nil
}

// mergeRequestFactsLocked finds or makes the head commit of a merge
// request: refs/merge-requests/<iid>/head, and for a same-project merge
// request also its source branch. ri.repo.mu must be held.
func (s *Server) mergeRequestFactsLocked(ctx context.Context, ri repoInfo, spec WebhookSpec, iid int64) (gitFacts, error) {
	f := gitFacts{iid: iid, srcBranch: spec.Branch}
	if f.srcBranch == "" {
		f.srcBranch = "feature-" + strconv.FormatInt(iid, 10)
	}
	dir := ri.repo.dir
	mrRef := "refs/merge-requests/" + strconv.FormatInt(iid, 10) + "/head"
	prev, hasHead, err := revParse(ctx, dir, mrRef+"^{commit}")
	if err != nil {
		return f, err
	}
	head := spec.Sha
	newCode := spec.Kind == "merge_request" && (spec.Action == "" || spec.Action == "open" || (spec.Action == "update" && spec.Commits > 0))
	if head == "" && (newCode || !hasHead) {
		n := max(spec.Commits, 1)
		commits := changeCommits(ri, n, spec.SkipCI)
		var infos []commitInfo
		if spec.Fork {
			base, _, err := revParse(ctx, dir, "refs/heads/"+ri.defaultBranch+"^{commit}")
			if err != nil {
				return f, err
			}
			if hasHead {
				base = prev
			}
			_, infos, err = s.commitLocked(ctx, ri, mrRef, base, commits)
			if err != nil {
				return f, err
			}
		} else {
			if _, infos, err = s.commitOnBranchLocked(ctx, ri, f.srcBranch, commits); err != nil {
				return f, err
			}
		}
		head = infos[len(infos)-1].ID
	} else if head == "" {
		head = prev
	}
	if err := updateRefLocked(ctx, dir, mrRef, head); err != nil {
		return f, err
	}
	if hasHead && prev != head {
		f.oldrev = prev
	}
	f.head, err = commitInfoLocked(ctx, ri, head)
	return f, err
}

// commitJSON is a commit in a push payload.
func commitJSON(c commitInfo, webURL string) map[string]any {
	return map[string]any{
		"id":        c.ID,
		"message":   c.Message,
		"title":     c.Title(),
		"timestamp": c.Timestamp.UTC().Format("2006-01-02T15:04:05-07:00"),
		"url":       webURL + "/-/commit/" + c.ID,
		"author":    map[string]any{"name": c.AuthorName, "email": c.AuthorEmail},
		"added":     c.Added,
		"modified":  c.Modified,
		"removed":   c.Removed,
	}
}

// hookProjectLocked is the "project" object of webhook payloads.
func (s *Server) hookProjectLocked(p *project) map[string]any {
	web := s.BaseURL() + "/" + p.fullPath
	ssh := s.sshURL(p)
	return map[string]any{
		"id":                  p.id,
		"name":                p.name,
		"description":         p.description,
		"web_url":             web,
		"avatar_url":          nil,
		"git_ssh_url":         ssh,
		"git_http_url":        web + ".git",
		"namespace":           p.ns.Name,
		"visibility_level":    visibilityLevel(p.visibility),
		"path_with_namespace": p.fullPath,
		"default_branch":      p.defaultBranch,
		"ci_config_path":      nil,
		"homepage":            web,
		"url":                 ssh,
		"ssh_url":             ssh,
		"http_url":            web + ".git",
	}
}

// forkProject is the source project of a merge request from a fork: a
// project the simulator does not otherwise know.
func forkProject(target map[string]any, p *project, base string) map[string]any {
	fork := map[string]any{}
	for k, v := range target {
		fork[k] = v
	}
	path := "contributor/" + p.path
	web := base + "/" + path
	fork["id"] = p.id + 900000
	fork["namespace"] = "contributor"
	fork["path_with_namespace"] = path
	fork["web_url"], fork["homepage"] = web, web
	fork["git_http_url"], fork["http_url"] = web+".git", web+".git"
	return fork
}

func (s *Server) hookRepositoryLocked(p *project) map[string]any {
	web := s.BaseURL() + "/" + p.fullPath
	return map[string]any{
		"name":             p.name,
		"url":              s.sshURL(p),
		"description":      p.description,
		"homepage":         web,
		"git_http_url":     web + ".git",
		"git_ssh_url":      s.sshURL(p),
		"visibility_level": visibilityLevel(p.visibility),
	}
}

func (s *Server) hookUserLocked(u *User) map[string]any {
	return map[string]any{
		"id":         u.ID,
		"name":       u.Name,
		"username":   u.Username,
		"avatar_url": avatarURL(u.Email),
		"email":      u.Email,
	}
}

// buildPayload builds the JSON body of a webhook for spec, making the git
// commits the event describes when spec.Sha is empty.
func (s *Server) buildPayload(ctx context.Context, spec WebhookSpec) ([]byte, error) {
	ri, err := s.repoInfo(spec.ProjectID)
	if err != nil {
		return nil, err
	}
	var f gitFacts
	iid := spec.MergeRequestIID
	if iid == 0 && spec.Kind != "push" && spec.Kind != "tag_push" {
		s.mu.Lock()
		iid = s.state.nextMergeRequestID
		s.state.nextMergeRequestID++
		s.mu.Unlock()
	}
	err = s.withRepo(ctx, spec.ProjectID, func(ri repoInfo) error {
		var err error
		switch spec.Kind {
		case "push", "tag_push":
			f, err = s.pushFactsLocked(ctx, ri, spec)
		case "merge_request", "note":
			f, err = s.mergeRequestFactsLocked(ctx, ri, spec, iid)
		case "pipeline":
			branch := spec.Branch
			if branch == "" {
				branch = ri.defaultBranch
			}
			f.srcBranch = branch
			sha := spec.Sha
			if sha == "" {
				var ok bool
				if sha, ok, err = revParse(ctx, ri.repo.dir, "refs/heads/"+branch+"^{commit}"); err != nil || !ok {
					return fmt.Errorf("branch %q: not found (%v)", branch, err)
				}
			}
			f.head, err = commitInfoLocked(ctx, ri, sha)
		}
		return err
	})
	if err != nil {
		return nil, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.state.projectByID[ri.id]
	if !ok {
		return nil, fmt.Errorf("project %d not found", ri.id)
	}
	userID := spec.UserID
	if userID == 0 {
		userID = p.creatorID
	}
	u, ok := s.state.users[userID]
	if !ok {
		return nil, fmt.Errorf("user %d not found", userID)
	}
	when := spec.Timestamp
	if when.IsZero() {
		when = s.nowLocked()
	}
	web := s.BaseURL() + "/" + p.fullPath
	var m map[string]any
	switch spec.Kind {
	case "push", "tag_push":
		m = s.pushPayloadLocked(spec, p, u, f, web)
	case "merge_request":
		m = s.mergeRequestPayloadLocked(spec, p, u, f, web, when)
	case "note":
		m = s.notePayloadLocked(spec, p, u, f, web, when)
	case "pipeline":
		m = s.pipelinePayloadLocked(spec, p, u, f, web, when)
	}
	return marshalJSON(m)
}

func (s *Server) pushPayloadLocked(spec WebhookSpec, p *project, u *User, f gitFacts, web string) map[string]any {
	name := "client-go-v1.46.0/webhooks/push.json"
	if spec.Kind == "tag_push" {
		name = "client-go-v1.46.0/webhooks/tag_push.json"
	}
	m := fixtureObject(name)
	commits := make([]map[string]any, 0, len(f.commits))
	for _, c := range f.commits {
		commits = append(commits, commitJSON(c, web))
	}
	var checkout any
	if f.checkout != "" {
		checkout = f.checkout
	}
	m["object_kind"], m["event_name"] = spec.Kind, spec.Kind
	m["before"], m["after"], m["ref"] = f.before, f.after, f.ref
	m["checkout_sha"] = checkout
	m["message"] = nil
	m["user_id"], m["user_name"], m["user_username"] = u.ID, u.Name, u.Username
	m["user_email"], m["user_avatar"] = u.Email, avatarURL(u.Email)
	m["project_id"] = p.id
	m["project"] = s.hookProjectLocked(p)
	m["repository"] = s.hookRepositoryLocked(p)
	m["commits"] = commits
	m["total_commits_count"] = f.total
	m["push_options"] = map[string]any{}
	if spec.Kind == "push" {
		m["ref_protected"] = f.ref == "refs/heads/"+p.defaultBranch
	} else {
		m["ref_protected"] = false
	}
	return m
}

// mergeRequestState is the state a merge request has after an action.
func mergeRequestState(action string) string {
	switch action {
	case "close":
		return "closed"
	case "merge":
		return "merged"
	}
	return "opened"
}

func (s *Server) mergeRequestAttrsLocked(spec WebhookSpec, p *project, u *User, f gitFacts, web string, when time.Time) map[string]any {
	target := s.hookProjectLocked(p)
	source := target
	if spec.Fork {
		source = forkProject(target, p, s.BaseURL())
	}
	iid := strconv.FormatInt(f.iid, 10)
	head := commitJSON(f.head, web)
	delete(head, "added")
	delete(head, "modified")
	delete(head, "removed")
	return map[string]any{
		"id":                            f.iid + 100000,
		"iid":                           f.iid,
		"target_branch":                 p.defaultBranch,
		"source_branch":                 f.srcBranch,
		"source_project_id":             source["id"],
		"target_project_id":             p.id,
		"author_id":                     u.ID,
		"title":                         "Merge " + f.srcBranch + " into " + p.defaultBranch,
		"description":                   "",
		"created_at":                    when.UTC().Format(time.RFC3339),
		"updated_at":                    when.UTC().Format(time.RFC3339),
		"state":                         mergeRequestState(spec.Action),
		"merge_status":                  "can_be_merged",
		"detailed_merge_status":         "mergeable",
		"draft":                         false,
		"work_in_progress":              false,
		"blocking_discussions_resolved": true,
		"first_contribution":            spec.Fork,
		"url":                           web + "/-/merge_requests/" + iid,
		"source":                        source,
		"target":                        target,
		"last_commit":                   head,
		"labels":                        []any{},
		"assignee_ids":                  []any{},
		"reviewer_ids":                  []any{},
		"head_pipeline_id":              nil,
	}
}

func (s *Server) mergeRequestPayloadLocked(spec WebhookSpec, p *project, u *User, f gitFacts, web string, when time.Time) map[string]any {
	m := fixtureObject("client-go-v1.46.0/webhooks/merge_request.json")
	action := spec.Action
	if action == "" {
		action = "open"
	}
	attrs := m["object_attributes"].(map[string]any)
	for k, v := range s.mergeRequestAttrsLocked(spec, p, u, f, web, when) {
		attrs[k] = v
	}
	attrs["action"] = action
	attrs["system"] = false
	delete(attrs, "system_action")
	delete(attrs, "assignee_id")
	if f.oldrev != "" {
		attrs["oldrev"] = f.oldrev
	}
	changes := map[string]any{}
	switch {
	case action == "update" && f.oldrev != "":
		changes["updated_at"] = map[string]any{"previous": when.Add(-time.Minute).UTC().Format("2006-01-02 15:04:05 UTC"), "current": when.UTC().Format("2006-01-02 15:04:05 UTC")}
	case action == "update":
		changes["labels"] = map[string]any{"previous": []any{}, "current": []any{map[string]any{"id": 1, "title": "ready", "color": "#428BCA", "project_id": p.id, "type": "ProjectLabel"}}}
	case action == "merge" || action == "close":
		changes["state_id"] = map[string]any{"previous": 1, "current": map[string]int{"merge": 3, "close": 2}[action]}
	}
	m["object_kind"], m["event_type"] = "merge_request", "merge_request"
	m["user"] = s.hookUserLocked(u)
	m["project"] = s.hookProjectLocked(p)
	m["repository"] = map[string]any{"name": p.name, "url": s.sshURL(p), "description": p.description, "homepage": web}
	m["labels"] = []any{}
	m["changes"] = changes
	m["assignees"] = []any{}
	m["reviewers"] = []any{}
	return m
}

func (s *Server) notePayloadLocked(spec WebhookSpec, p *project, u *User, f gitFacts, web string, when time.Time) map[string]any {
	m := fixtureObject("client-go-v1.46.0/webhooks/note_merge_request.json")
	mr := s.mergeRequestAttrsLocked(spec, p, u, f, web, when)
	noteID := f.iid + 200000
	m["object_kind"], m["event_type"] = "note", "note"
	m["user"] = s.hookUserLocked(u)
	m["project_id"] = p.id
	m["project"] = s.hookProjectLocked(p)
	m["repository"] = map[string]any{"name": p.name, "url": s.sshURL(p), "description": p.description, "homepage": web}
	m["object_attributes"] = map[string]any{
		"id":            noteID,
		"note":          "Looks good to me.",
		"noteable_type": "MergeRequest",
		"author_id":     u.ID,
		"created_at":    when.UTC().Format("2006-01-02 15:04:05 UTC"),
		"updated_at":    when.UTC().Format("2006-01-02 15:04:05 UTC"),
		"project_id":    p.id,
		"attachment":    nil,
		"line_code":     nil,
		"commit_id":     "",
		"noteable_id":   mr["id"],
		"system":        false,
		"st_diff":       nil,
		"action":        "create",
		"url":           mr["url"].(string) + "#note_" + strconv.FormatInt(noteID, 10),
	}
	m["merge_request"] = mr
	return m
}

func (s *Server) pipelinePayloadLocked(spec WebhookSpec, p *project, u *User, f gitFacts, web string, when time.Time) map[string]any {
	m := fixtureObject("client-go-v1.46.0/webhooks/pipeline.json")
	status := spec.Action
	if status == "" {
		status = "success"
	}
	s.state.nextPipelineID++
	id := s.state.nextPipelineID
	head := commitJSON(f.head, web)
	delete(head, "added")
	delete(head, "modified")
	delete(head, "removed")
	project := s.hookProjectLocked(p)
	for _, k := range []string{"homepage", "url", "ssh_url", "http_url"} {
		delete(project, k)
	}
	var finished any
	if status == "success" || status == "failed" || status == "canceled" {
		finished = when.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	m["object_attributes"] = map[string]any{
		"id":              id,
		"iid":             id,
		"name":            nil,
		"ref":             f.srcBranch,
		"tag":             false,
		"sha":             f.head.ID,
		"before_sha":      zeroSHA,
		"source":          "push",
		"status":          status,
		"detailed_status": status,
		"stages":          []string{"build", "test"},
		"created_at":      when.Add(-time.Minute).UTC().Format("2006-01-02 15:04:05 UTC"),
		"finished_at":     finished,
		"duration":        60,
		"queued_duration": 1,
		"variables":       []any{},
		"url":             web + "/-/pipelines/" + strconv.FormatInt(id, 10),
	}
	m["merge_request"] = nil
	m["user"] = s.hookUserLocked(u)
	m["project"] = project
	m["commit"] = head
	m["builds"] = []any{}
	delete(m, "source_pipeline")
	return m
}
